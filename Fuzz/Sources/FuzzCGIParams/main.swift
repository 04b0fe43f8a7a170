// FuzzCGIParams: the one reading of CGI variables into a request head (FastCGI parameters, the
// environ ASGIToWSGI is handed) and the scope built from it, on name/value pairs read from the
// input, plus a mount point.
//
// Invariants: it never traps; a refusal is only ever about CONTENT_LENGTH; an accepted
// CONTENT_LENGTH is the head's content length and never negative; header names are lowercase
// with no '_'; the scope's raw path and query hold no '#'; the path of a head without PATH_INFO
// is the decoding of its raw path.
@_spi(ASGIFrontend) import ASGI
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCGIParams(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let mountPoint = input.byte() & 1 == 0 ? nil : String(decoding: input.line(limit: 32), as: UTF8.self)
    let names = [
        "REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING", "SCRIPT_NAME", "PATH_INFO", "CONTENT_LENGTH",
        "CONTENT_TYPE", "SERVER_PROTOCOL", "HTTPS", "REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME", "SERVER_PORT",
        "REQUEST_SCHEME", "SERVER_ADDR", "HTTP_HOST", "HTTP_X_A_B", "HTTP_CONTENT_LENGTH", "DOCUMENT_ROOT",
    ]
    var builder = CGIRequestHead.Builder()
    var pathInfoGiven = false
    for _ in 0..<Int(input.byte() % 12) {
        let selector = input.byte()
        let name = selector < 200 ? Array(names[Int(selector) % names.count].utf8) : input.line(limit: 24)
        let value = input.line(limit: 256)
        if name == Array("PATH_INFO".utf8) { pathInfoGiven = true }
        do {
            try name.withUnsafeBytes { name in
                try value.withUnsafeBytes { value in try builder.add(name: name, value: value) }
            }
        } catch {
            fuzzCheck(name == Array("CONTENT_LENGTH".utf8), "refused \(String(decoding: name, as: UTF8.self)): \(error)")
            return 0
        }
    }
    let head = builder.build(mountPoint: mountPoint)
    if let length = head.contentLength { fuzzCheck(length >= 0, "negative content length") }
    for header in head.head.headers {
        fuzzCheck(!header.name.contains(UInt8(ascii: "_")), "'_' in header name \(header.nameString)")
        fuzzCheck(!header.name.contains { $0 >= 0x41 && $0 <= 0x5A }, "uppercase header name \(header.nameString)")
    }
    let target = head.head.target
    fuzzCheck(!target.rawPath.contains(UInt8(ascii: "#")) && !target.queryString.contains(UInt8(ascii: "#")), "'#' in the target")
    let scope = head.head.httpScope(state: nil, extensions: nil)
    if !pathInfoGiven, mountPoint == nil {
        fuzzCheck(scope.path == HTTPScope.decodedPath(target.rawPath), "path is not the decoded raw path")
    }
    return 0
}
