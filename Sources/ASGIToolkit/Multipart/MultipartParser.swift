// multipart/form-data framing: RFC 7578 (form-data) over RFC 2046 §5.1.1 (the multipart syntax).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A streaming `multipart/form-data` parser: bytes in, part events out, nothing buffered beyond
/// one part's headers and a boundary's length.
///
/// Feed it the body as it arrives with ``append(_:)``, call ``finish()`` at its end, and take
/// events with ``next()`` until it returns `nil` (it needs more input) or ``Event/end``. It does
/// no I/O and never blocks, so async code can drive it from `receive()` too; ``MultipartForm``
/// drives it from a WSGI-style `environ.input`.
///
/// ```swift
/// var parser = try MultipartParser(contentType: "multipart/form-data; boundary=XyZ")
/// parser.append(chunk)
/// while let event = try parser.next() {
///     switch event {
///     case .partStart(let head): …   // head.name, head.filename
///     case .data(let bytes): …
///     case .partEnd: …
///     case .end: …
///     }
/// }
/// ```
///
/// The rules (RFC 2046 §5.1.1): the delimiter is CRLF, `--` and the boundary; the first one may
/// open the body without a CRLF before it; a preamble before it and an epilogue after the close
/// delimiter (`--boundary--`) are ignored; the boundary may be followed by spaces or tabs before
/// its CRLF (transport padding). Part headers are CRLF-terminated lines (a line starting with a
/// space or tab continues the one before) ending at an empty line; `Content-Disposition` with a
/// `name` is required (RFC 7578 §4.2). A part's body starts after the empty line that ends its
/// headers (werkzeug lets that line break also begin a delimiter, so there a body that starts with
/// `--boundary` ends at once; such a body breaks RFC 2046 either way). Line breaks must be CRLF: a body with bare LF line breaks
/// (which werkzeug also accepts) is malformed here, since in it a boundary could hide inside data.
/// Errors are ``FormError``s: `malformedMultipart`, `partHeadersTooLarge`, `tooManyFields`, and
/// `truncatedBody` when the input ends before the close delimiter.
public struct MultipartParser: Sendable {
    /// What the parser found.
    public enum Event: Sendable, Hashable {
        /// A part begins; its body follows as ``data(_:)`` events.
        case partStart(MultipartPartHead)
        /// Bytes of the current part's body, in order (never empty).
        case data([UInt8])
        /// The current part's body is complete.
        case partEnd
        /// The close delimiter: the body is complete; later input is ignored.
        case end
    }

    private enum State {
        case preamble
        case afterDelimiter
        case headers
        case body
        case bodyEnded
        case epilogue
    }

    /// CRLF `--` boundary.
    private let delimiter: [UInt8]
    private let maxHeaderBytes: Int
    private let maxParts: Int
    /// Unconsumed input starts at `position`. It starts with a CRLF so that a delimiter opening
    /// the body is found like every other.
    private var buffer: [UInt8] = [0x0D, 0x0A]
    private var position = 0
    private var state = State.preamble
    private var inputEnded = false
    private var parts = 0
    private var headerBytes = 0
    private var headerLines: [[UInt8]] = []

    /// A parser for parts separated by `boundary` (RFC 2046: 1 to 70 characters; up to 200 are
    /// accepted, no control characters).
    /// - Parameters:
    ///   - boundary: the `boundary` parameter of the request's `Content-Type`.
    ///   - maxHeaderBytes: the most bytes of one part's header block.
    ///   - maxParts: the most parts.
    /// - Throws: ``FormError`` `missingBoundary` when the boundary is empty, too long or has a
    ///   control character.
    public init(boundary: String, maxHeaderBytes: Int = 8 * 1024, maxParts: Int = 1000) throws(FormError) {
        let bytes = Array(boundary.utf8)
        guard !bytes.isEmpty, bytes.count <= 200, bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            throw FormError(.missingBoundary, "The multipart boundary must be 1 to 70 printable characters (RFC 2046); got \(bytes.count) bytes.")
        }
        self.delimiter = [0x0D, 0x0A, UInt8(ascii: "-"), UInt8(ascii: "-")] + bytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxParts = maxParts
    }

    /// A parser for a `Content-Type` header value such as `multipart/form-data; boundary=XyZ`.
    /// - Throws: ``FormError`` `missingBoundary` when it has no usable `boundary` parameter.
    public init(contentType: String, maxHeaderBytes: Int = 8 * 1024, maxParts: Int = 1000) throws(FormError) {
        guard let boundary = Self.boundary(contentType: contentType) else {
            throw FormError(
                .missingBoundary,
                "The Content-Type \(String(reflecting: contentType)) has no boundary parameter: send multipart/form-data; boundary=…"
            )
        }
        try self.init(boundary: boundary, maxHeaderBytes: maxHeaderBytes, maxParts: maxParts)
    }

    /// The `boundary` parameter of a `multipart/…` content type, or `nil`.
    public static func boundary(contentType: String) -> String? {
        let header = HeaderParameters(contentType.utf8)
        guard header.value.lowercased().hasPrefix("multipart/"), let boundary = header["boundary"], !boundary.isEmpty else { return nil }
        return boundary
    }

    /// Adds input.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        guard state != .epilogue else { return }
        if position > 0, position >= 64 * 1024 || position * 2 >= buffer.count {
            buffer.removeSubrange(0..<position)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Marks the end of the input: from now on, a body without its close delimiter is an error.
    public mutating func finish() {
        inputEnded = true
    }

    /// The next event, or `nil` when more input is needed (or after ``Event/end``).
    public mutating func next() throws(FormError) -> Event? {
        while true {
            switch state {
            case .preamble:
                if let found = find(delimiter, from: position) {
                    position = found + delimiter.count
                    state = .afterDelimiter
                    continue
                }
                guard !inputEnded else {
                    throw FormError(.truncatedBody, "The multipart body has no boundary line --\(boundaryText): check the boundary in Content-Type.")
                }
                position = max(position, buffer.count - (delimiter.count - 1))
                return nil

            case .afterDelimiter:
                var index = position
                while index < buffer.count, buffer[index] == UInt8(ascii: " ") || buffer[index] == UInt8(ascii: "\t") { index += 1 }
                if index - position > maxHeaderBytes {
                    throw FormError(.malformedMultipart, "A multipart boundary line has more than \(maxHeaderBytes) bytes of padding.")
                }
                guard index + 1 < buffer.count else {
                    if inputEnded { throw truncated }
                    return nil
                }
                if index == position, buffer[index] == UInt8(ascii: "-"), buffer[index + 1] == UInt8(ascii: "-") {
                    state = .epilogue
                    buffer = []
                    position = 0
                    return .end
                }
                guard buffer[index] == 0x0D, buffer[index + 1] == 0x0A else {
                    throw FormError(
                        .malformedMultipart,
                        "A multipart boundary --\(boundaryText) is followed by something other than a line break or '--': the boundary appears inside the data, or line breaks are not CRLF."
                    )
                }
                position = index + 2
                headerBytes = 0
                headerLines = []
                state = .headers

            case .headers:
                guard let lineEnd = find([0x0D, 0x0A], from: position) else {
                    if headerBytes + (buffer.count - position) > maxHeaderBytes { throw headersTooLarge }
                    if inputEnded { throw truncated }
                    return nil
                }
                headerBytes += lineEnd - position + 2
                if headerBytes > maxHeaderBytes { throw headersTooLarge }
                let line = buffer[position..<lineEnd]
                position = lineEnd + 2
                if line.isEmpty {
                    parts += 1
                    guard parts <= maxParts else {
                        throw FormError(
                            .tooManyFields,
                            "The multipart body has more than \(maxParts) parts; send fewer, or raise MultipartLimits.maxParts."
                        )
                    }
                    state = .body
                    return .partStart(try partHead())
                }
                if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t") {
                    guard !headerLines.isEmpty else {
                        throw FormError(.malformedMultipart, "A multipart part's headers begin with a continuation line.")
                    }
                    headerLines[headerLines.count - 1].append(UInt8(ascii: " "))
                    headerLines[headerLines.count - 1].append(contentsOf: line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
                } else {
                    headerLines.append(Array(line))
                }

            case .body:
                if let found = find(delimiter, from: position) {
                    let data = Array(buffer[position..<found])
                    position = found + delimiter.count
                    state = .bodyEnded
                    if !data.isEmpty { return .data(data) }
                    continue
                }
                if inputEnded { throw truncated }
                let safeEnd = endOfCertainData()
                guard safeEnd > position else { return nil }
                let data = Array(buffer[position..<safeEnd])
                position = safeEnd
                return .data(data)

            case .bodyEnded:
                state = .afterDelimiter
                return .partEnd

            case .epilogue:
                return nil
            }
        }
    }

    // MARK: Helpers

    private var boundaryText: String { String(decoding: delimiter.dropFirst(4), as: UTF8.self) }

    private var truncated: FormError {
        FormError(
            .truncatedBody,
            "The multipart body ended before its closing boundary --\(boundaryText)--: the client sent less than the whole form."
        )
    }

    private var headersTooLarge: FormError {
        FormError(
            .partHeadersTooLarge,
            "A multipart part has more than \(maxHeaderBytes) bytes of headers; raise MultipartLimits.maxPartHeaderBytes if that is expected."
        )
    }

    /// The end of the body bytes that cannot be part of a delimiter: all but a tail that is a
    /// prefix of the delimiter.
    private func endOfCertainData() -> Int {
        var start = max(position, buffer.count - (delimiter.count - 1))
        while start < buffer.count {
            if buffer[start] == 0x0D, buffer[start...].elementsEqual(delimiter.prefix(buffer.count - start)) { return start }
            start += 1
        }
        return buffer.count
    }

    /// The index of the first occurrence of `pattern` (starting with CR) at or after `start`.
    private func find(_ pattern: [UInt8], from start: Int) -> Int? {
        guard buffer.count - start >= pattern.count else { return nil }
        return buffer.withUnsafeBufferPointer { haystack -> Int? in
            pattern.withUnsafeBufferPointer { needle -> Int? in
                let base = haystack.baseAddress!
                var offset = start
                let last = haystack.count - needle.count
                while offset <= last {
                    guard let hit = memchr(base + offset, Int32(needle[0]), last - offset + 1) else { return nil }
                    let index = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + index, needle.baseAddress!, needle.count) == 0 { return index }
                    offset = index + 1
                }
                return nil
            }
        }
    }

    /// The head of the part whose header lines were just read.
    private func partHead() throws(FormError) -> MultipartPartHead {
        var headers: [MultipartHeader] = []
        for line in headerLines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw FormError(.malformedMultipart, "A multipart part has a header line without ':'.")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).trimmingASCIISpaces()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingASCIISpaces()
            headers.append(MultipartHeader(name: name, value: value))
        }
        guard let disposition = headers.first(where: { $0.name.lowercased() == "content-disposition" }) else {
            throw FormError(.malformedMultipart, "A multipart part has no Content-Disposition header (RFC 7578 §4.2).")
        }
        let parameters = HeaderParameters(disposition.value.utf8)
        guard let name = parameters["name"] else {
            throw FormError(.malformedMultipart, "A multipart part's Content-Disposition has no name parameter (RFC 7578 §4.2).")
        }
        let contentType = headers.first { $0.name.lowercased() == "content-type" }?.value
        return MultipartPartHead(name: name, filename: parameters["filename"], contentType: contentType, headers: headers)
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    func trimmingASCIISpaces() -> String {
        var scalars = Substring(self).unicodeScalars
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
