import ASGI

/// PEP 3333's `start_response` and `write` for one FastCGI request, on its worker thread.
///
/// The head is held back until the first non-empty chunk (so `startResponse` with an error can
/// still replace it), output is clamped to the application's own `Content-Length`, and every chunk
/// is flushed to the web server as it comes unless it is known to be the last.
final class WSGIResponseWriter {
    private let request: FastCGIRequest
    private var status: Int?
    private var reason: String?
    private var headers: ASGIHeaders = []
    private var contentLength: Int?
    private var sent = 0
    private var headPending = true

    init(request: FastCGIRequest) {
        self.request = request
    }

    /// Whether the application's `Content-Length` has been reached (iteration stops there).
    var reachedContentLength: Bool {
        contentLength.map { sent >= $0 } ?? false
    }

    /// `start_response`.
    func startResponse(_ statusLine: String, _ headerPairs: [(String, String)], _ error: (any Error)?) throws -> Write {
        if let error {
            // PEP 3333: with exc_info once the head went out, re-raise the application's error.
            if !headPending { throw error }
        } else if status != nil {
            throw WSGIError(.startResponseTwice, "startResponse was called a second time without an error; pass the error being handled to replace the response.")
        }
        let code = try WSGIResponder.parseStatus(statusLine)
        var parsed = ASGIHeaders()
        var length: Int? = nil
        for (name, value) in headerPairs {
            parsed.append(try WSGIResponder.header(name, value))
            if name.count == 14, name.lowercased() == "content-length" {
                guard let value = Int(value) ?? Int(value.trimmingCharacters(" \t")), value >= 0 else {
                    throw WSGIError(.invalidHeader, "Content-Length '\(value)' is not a non-negative integer.")
                }
                length = value
            }
        }
        status = code
        reason = statusLine.count > 4 ? String(statusLine.dropFirst(4)) : nil
        headers = parsed
        contentLength = length
        return { [self] bytes in try self.write(bytes, flush: true) }
    }

    /// Sends a chunk (from `write` or the body), writing the head first if needed; `flush` is
    /// ignored when the chunk completes the declared `Content-Length` (the end of the request
    /// sends it).
    func write(_ chunk: [UInt8], flush: Bool) throws {
        guard let status else {
            throw WSGIError(.responseNotStarted, "The application produced body output before calling startResponse.")
        }
        guard !chunk.isEmpty else { return }
        var count = chunk.count
        if let contentLength {
            let remaining = contentLength - sent
            guard remaining > 0 else { return }
            count = min(count, remaining)
        }
        let head = headPending ? try FastCGIRequest.responseHead(status: status, reason: reason, headers: headers) : nil
        headPending = false
        let last = contentLength.map { sent + count >= $0 } ?? false
        try chunk.withUnsafeBytes { bytes in
            try request.write(head: head, status: status, body: UnsafeRawBufferPointer(rebasing: bytes[..<count]), flush: flush && !last)
        }
        sent += count
    }

    /// Ends the response, writing the head if the body was empty.
    func finish() throws {
        guard let status else {
            throw WSGIError(.responseNotStarted, "The application returned without calling startResponse.")
        }
        if headPending {
            let head = try FastCGIRequest.responseHead(status: status, reason: reason, headers: headers)
            headPending = false
            try request.write(head: head, status: status, body: UnsafeRawBufferPointer(start: nil, count: 0), flush: false)
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(_ set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
