// FuzzMultipart: MultipartParser and MultipartForm on any body, content type and chunking.
//
// Input: one byte for the chunk size (1 to 64), one for the limits, the Content-Type up to the
// first line feed, then the body. Invariants: nothing traps; feeding the body at once and in
// chunks gives the same parts, or the same error; MultipartForm (with small limits, so uploads
// spool to disk) agrees with the parser on the parts; no spooled file is ever left in the
// temporary directory.
import ASGI
import ASGIToolkit
import FuzzSupport

#if canImport(Glibc)
import Glibc
#endif

/// A private directory for spooled uploads, made once per fuzzing process under `$TMPDIR`
/// (fuzz.sh points it into its work directory, which it removes).
let spoolDirectory: String = {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(base)/fuzz-multipart-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
    return String(cString: made)
}()

/// The events of `body`, fed `chunk` bytes at a time, neighbouring data joined; or the error code.
func parse(_ body: [UInt8], contentType: String, chunk: Int, maxHeaderBytes: Int, maxParts: Int) -> Result<[MultipartParser.Event], FormError> {
    do {
        var parser = try MultipartParser(contentType: contentType, maxHeaderBytes: maxHeaderBytes, maxParts: maxParts)
        var events: [MultipartParser.Event] = []
        var start = 0
        func drain() throws(FormError) -> Bool {
            while let event = try parser.next() {
                if case .data(let more) = event, case .data(let bytes)? = events.last {
                    events[events.count - 1] = .data(bytes + more)
                } else {
                    events.append(event)
                }
                if event == .end { return true }
            }
            return false
        }
        while start < body.count {
            parser.append(body[start..<min(start + chunk, body.count)])
            start += chunk
            if try drain() { return .success(events) }
        }
        parser.finish()
        _ = try drain()
        return .success(events)
    } catch {
        return .failure(error)
    }
}

/// The names in `directory`, `.` and `..` aside.
func entries(_ directory: String) -> [String] {
    guard let handle = opendir(directory) else { return [] }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// A WSGIInputSource over bytes, `chunk` at a time.
final class ChunkedSource: WSGIInputSource, @unchecked Sendable {
    // Used by one thread: the fuzz target's, which reads it synchronously.
    private var bytes: ArraySlice<UInt8>
    private let chunk: Int

    init(_ bytes: [UInt8], chunk: Int) {
        self.bytes = bytes[...]
        self.chunk = chunk
    }

    func read(upTo maxBytes: Int) throws -> [UInt8] {
        let taken = bytes.prefix(min(maxBytes, chunk))
        bytes = bytes.dropFirst(taken.count)
        return Array(taken)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let chunk = Int(input.byte() % 64) + 1
    let limitsByte = input.byte()
    let contentType = String(decoding: input.line(limit: 300), as: UTF8.self)
    let body = input.rest()
    let maxHeaderBytes = limitsByte & 1 != 0 ? 64 : 8192
    let maxParts = limitsByte & 2 != 0 ? 3 : 1000

    let whole = parse(body, contentType: contentType, chunk: max(body.count, 1), maxHeaderBytes: maxHeaderBytes, maxParts: maxParts)
    let chunked = parse(body, contentType: contentType, chunk: chunk, maxHeaderBytes: maxHeaderBytes, maxParts: maxParts)
    switch (whole, chunked) {
    case (.success(let a), .success(let b)):
        fuzzCheck(a == b, "chunk size \(chunk) changed the events")
    case (.failure(let a), .failure(let b)):
        fuzzCheck(a.code == b.code, "chunk size \(chunk) changed the error from \(a.code) to \(b.code)")
    default:
        fuzzCheck(false, "chunk size \(chunk): \(whole) against \(chunked)")
    }

    let limits = MultipartLimits(
        maxParts: maxParts,
        maxPartHeaderBytes: maxHeaderBytes,
        maxFieldBytes: 256,
        maxFileBytes: 4096,
        maxBodyBytes: 1 << 20,
        maxMemoryBytes: 512,
        spoolThreshold: 32,
        temporaryDirectory: spoolDirectory
    )
    let environ = Environ(
        variables: ["REQUEST_METHOD": "POST", "CONTENT_TYPE": contentType, "CONTENT_LENGTH": String(body.count)],
        input: WSGIInput(ChunkedSource(body, chunk: chunk))
    )
    do {
        let form = try MultipartForm(environ: environ, limits: limits)
        if case .success(let events) = whole {
            let parts = events.filter { if case .partStart = $0 { return true } else { return false } }.count
            fuzzCheck(form.fields.count + form.files.count == parts, "form has \(form.fields.count + form.files.count) parts, parser \(parts)")
        }
        for file in form.files {
            let content = try file.bytes()
            fuzzCheck(content.count == file.size, "file size \(file.size), read \(content.count)")
        }
    } catch let error as FormError {
        fuzzCheck(error.status >= 400, "status \(error.status)")
    } catch {
        fuzzCheck(false, "unexpected \(error)")
    }
    fuzzCheck(entries(spoolDirectory).isEmpty, "a spooled upload was left in \(spoolDirectory)")
    return 0
}
