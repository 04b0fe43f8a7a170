/// PEP 3333's `start_response` and `write`, for one request, on the application's thread.
///
/// Headers are held back until the first non-empty chunk, so an application that fails before it
/// produced output can still replace them (`startResponse` with an error). Output is clamped to the
/// application's own `Content-Length`.
package final class WSGIResponder {
    private let output: ResponseChannel
    private(set) var status: Int?
    private var headers: ASGIHeaders = []
    private(set) var headersSent = false
    private var contentLength: Int?
    private var sentBytes = 0

    init(output: ResponseChannel) {
        self.output = output
    }

    /// Whether the application's `Content-Length` has been reached (iteration stops there).
    var reachedContentLength: Bool {
        contentLength.map { sentBytes >= $0 } ?? false
    }

    /// Whether writing `chunk` reaches the application's `Content-Length`.
    func completesContentLength(_ chunk: [UInt8]) -> Bool {
        contentLength.map { sentBytes + chunk.count >= $0 } ?? false
    }

    func startResponse(_ statusLine: String, _ headerPairs: [(String, String)], _ error: (any Error)?) throws -> Write {
        if let error {
            // PEP 3333: with exc_info after the headers went out, re-raise the application's error.
            if headersSent { throw error }
        } else if status != nil {
            throw WSGIError(.startResponseTwice, "startResponse was called a second time without an error; pass the error being handled to replace the response.")
        }
        let code = try Self.parseStatus(statusLine)
        var parsed = ASGIHeaders()
        var length: Int? = nil
        for (name, value) in headerPairs {
            parsed.append(try Self.header(name, value))
            if asciiCaseInsensitiveEquals(parsed[parsed.count - 1].name, Self.contentLengthName) {
                guard let value = Self.parseContentLength(value) else {
                    throw WSGIError(.invalidHeader, "Content-Length '\(value)' is not a non-negative integer.")
                }
                length = value
            }
        }
        status = code
        headers = parsed
        contentLength = length
        return { [self] bytes in try self.write(bytes) }
    }

    /// Sends a chunk (from `write` or from the body), starting the response first if needed.
    /// - Parameter flush: wake the ASGI side for it; `false` when more output or the end follows
    ///   at once (an in-memory body).
    func write(_ chunk: [UInt8], flush: Bool = true) throws {
        guard let status else {
            throw WSGIError(.responseNotStarted, "The application produced body output before calling startResponse.")
        }
        guard !chunk.isEmpty else { return }
        var chunk = chunk
        if let contentLength {
            let remaining = contentLength - sentBytes
            guard remaining > 0 else { return }
            if chunk.count > remaining { chunk = Array(chunk.prefix(remaining)) }
        }
        if !headersSent {
            try output.send(.start(status: status, headers: headers), flush: false)
            headersSent = true
        }
        try output.send(.body(chunk), flush: flush)
        sentBytes += chunk.count
    }

    /// Ends the response (starting it first if the body was empty).
    /// - Parameter flush: wake the ASGI side for it; `false` when the call's end follows at once
    ///   (nothing left to run but a trivial `close()`), which then carries the response.
    func finish(flush: Bool = true) throws {
        guard let status else {
            throw WSGIError(.responseNotStarted, "The application returned without calling startResponse.")
        }
        if !headersSent {
            try output.send(.start(status: status, headers: headers), flush: false)
            headersSent = true
        }
        try output.send(.end, flush: flush)
    }

    /// Sends a plain-text error response; only before any output.
    func sendError(status: Int, message: String) throws {
        precondition(!headersSent)
        let body = Array(message.utf8)
        try output.send(.start(status: status, headers: [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", String(body.count)),
        ]), flush: false)
        headersSent = true
        try output.send(.body(body), flush: false)
        try output.send(.end)
    }

    private static let contentLengthName = Array("content-length".utf8)

    /// A Content-Length value: decimal digits between optional spaces and tabs; `nil` otherwise.
    static func parseContentLength(_ text: String) -> Int? {
        var value = 0
        var digits = 0
        var trailing = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if digits > 0 { trailing = true }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard !trailing else { return nil }
                let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                guard !overflowA && !overflowB else { return nil }
                value = sum
                digits += 1
            default:
                return nil
            }
        }
        return digits > 0 ? value : nil
    }

    /// The code of a status line: `"200 OK"` or a bare `"200"`.
    package static func parseStatus(_ line: String) throws -> Int {
        var value = 0
        var index = 0
        var valid = true
        for byte in line.utf8 {
            if index < 3 {
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                } else {
                    valid = false
                }
            } else if index == 3 {
                if byte != UInt8(ascii: " ") { valid = false }
            } else if byte < 0x20 || byte == 0x7F {
                throw WSGIError(.invalidStatus, "Status '\(line.debugDescription)' contains a control character.")
            }
            index += 1
        }
        guard valid, index >= 3, value >= 100 else {
            throw WSGIError(.invalidStatus, "Status '\(line)' is not a three-digit code optionally followed by a space and a reason, such as '200 OK'.")
        }
        return value
    }

    /// A response header checked for what HTTP can carry: a token name and a latin-1 value without
    /// CR, LF or NUL.
    package static func header(_ name: String, _ value: String) throws -> ASGIHeader {
        var lowered: [UInt8] = []
        lowered.reserveCapacity(name.utf8.count)
        for byte in name.utf8 {
            guard isTokenByte(byte) else {
                throw WSGIError(.invalidHeader, "Header name '\(name.debugDescription)' is not an HTTP token.")
            }
            lowered.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte)
        }
        guard !lowered.isEmpty else {
            throw WSGIError(.invalidHeader, "Header name '\(name.debugDescription)' is not an HTTP token.")
        }
        guard let bytes = value.latin1Bytes else {
            throw WSGIError(.invalidHeader, "Header '\(name)' has a value with characters outside latin-1; encode it (e.g. RFC 8187) first.")
        }
        guard !bytes.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) else {
            throw WSGIError(.invalidHeader, "Header '\(name)' has a value containing CR, LF or NUL (header injection).")
        }
        return ASGIHeader(name: lowered, value: bytes)
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

