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
            if name.lowercased() == "content-length" {
                guard let value = Int(value.trimmingSpaces()), value >= 0 else {
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
    func write(_ chunk: [UInt8]) throws {
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
            try output.send(.start(status: status, headers: headers))
            headersSent = true
        }
        try output.send(.body(chunk))
        sentBytes += chunk.count
    }

    /// Ends the response (starting it first if the body was empty).
    func finish() throws {
        guard let status else {
            throw WSGIError(.responseNotStarted, "The application returned without calling startResponse.")
        }
        if !headersSent {
            try output.send(.start(status: status, headers: headers))
            headersSent = true
        }
        try output.send(.end)
    }

    /// Sends a plain-text error response; only before any output.
    func sendError(status: Int, message: String) throws {
        precondition(!headersSent)
        let body = Array(message.utf8)
        try output.send(.start(status: status, headers: [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", String(body.count)),
        ]))
        headersSent = true
        try output.send(.body(body))
        try output.send(.end)
    }

    /// The code of a status line: `"200 OK"` or a bare `"200"`.
    package static func parseStatus(_ line: String) throws -> Int {
        let code = line.prefix { $0 != " " }
        guard code.count == 3, let value = Int(code), (100...999).contains(value),
              line.count == 3 || line.dropFirst(3).first == " " else {
            throw WSGIError(.invalidStatus, "Status '\(line)' is not a three-digit code optionally followed by a space and a reason, such as '200 OK'.")
        }
        for scalar in line.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
            throw WSGIError(.invalidStatus, "Status '\(line.debugDescription)' contains a control character.")
        }
        return value
    }

    /// A response header checked for what HTTP can carry: a token name and a latin-1 value without
    /// CR, LF or NUL.
    package static func header(_ name: String, _ value: String) throws -> ASGIHeader {
        guard !name.isEmpty, name.unicodeScalars.allSatisfy(isTokenCharacter) else {
            throw WSGIError(.invalidHeader, "Header name '\(name.debugDescription)' is not an HTTP token.")
        }
        guard let bytes = value.latin1Bytes else {
            throw WSGIError(.invalidHeader, "Header '\(name)' has a value with characters outside latin-1; encode it (e.g. RFC 8187) first.")
        }
        guard !bytes.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) else {
            throw WSGIError(.invalidHeader, "Header '\(name)' has a value containing CR, LF or NUL (header injection).")
        }
        return ASGIHeader(name: Array(name.lowercased().utf8), value: bytes)
    }

    private static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
        }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
