import Logging

/// The blocking side of serving a WSGI-style application, the same for every frontend: PEP 3333's
/// `start_response` and `write`, the iteration of the body, `close()` on every path, and the answer
/// when the application fails. A frontend supplies only its transport (``WSGIResponseSink``).
///
/// - Headers are held back until the first non-empty chunk, so an application that fails before
///   it produced output can still replace them (`startResponse` with an error; after the headers
///   went out, that call re-raises the error, as PEP 3333 asks).
/// - Output follows the head's framing (``ResponseFraming``): clamped to the application's
///   `Content-Length` (iteration stops there), none for `HEAD` and bodiless statuses.
/// - A ``WSGIFileBody`` (``Environ/fileWrapper(path:blockSize:)``) goes out as a file: zero-copy
///   where the transport can send one, else streamed in blocks.
///
/// Unchecked `Sendable`: only the thread that runs the application (the one in `run`) touches the
/// driver's mutable state: `startResponse`, `write` and the `completeResponse` hook run there
/// (``BlockingExchange`` calls the hook only on that thread); the `onClientGone` hook, which may run
/// elsewhere, reads only the immutable `sink`, whose `onClientGone` is thread-safe.
package final class WSGIDriver: @unchecked Sendable {
    private let sink: any WSGIResponseSink
    private let requestMethod: String
    private var status: Int?
    private var headers: ASGIHeaders = []
    private var framing: ResponseFraming?
    /// Whether the head went to the sink.
    private(set) var headersSent = false
    /// Whether the end went to the sink (the response is complete, the application may go on).
    private(set) var ended = false

    init(sink: any WSGIResponseSink, requestMethod: String) {
        self.sink = sink
        self.requestMethod = requestMethod
    }

    /// Whether no more body bytes may go out (the declared length is reached, or none are allowed).
    var isSatisfied: Bool { ended || (framing?.isSatisfied ?? false) }

    /// Whether writing `chunk` completes the declared body.
    func completes(with chunk: [UInt8]) -> Bool {
        framing?.completes(with: chunk.count) ?? false
    }

    /// The status written, if any (for logs).
    var writtenStatus: Int? { headersSent ? status : nil }

    // MARK: start_response and write

    /// PEP 3333's `start_response`.
    func startResponse(_ statusLine: String, _ headerPairs: [(String, String)], _ error: (any Error)?) throws -> Write {
        if let error {
            // PEP 3333: with exc_info after the headers went out, re-raise the application's error.
            if headersSent { throw error }
        } else if status != nil {
            throw WSGIError(
                .startResponseTwice,
                "startResponse was called a second time without an error; pass the error being handled to replace the response."
            )
        }
        let code = try StartResponseRules.parseStatus(statusLine)
        var parsed = ASGIHeaders()
        parsed.elements.reserveCapacity(headerPairs.count)
        for (name, value) in headerPairs {
            parsed.append(try StartResponseRules.header(name, value))
        }
        do {
            framing = try ResponseFraming(status: code, headers: parsed, requestMethod: requestMethod)
        } catch {
            throw WSGIError(.invalidHeader, "\(error.message.prefix(1).uppercased())\(error.message.dropFirst()).")
        }
        status = code
        headers = parsed
        return { [self] bytes in try self.write(bytes) }
    }

    /// Sends a chunk (from `write` or from the body), starting the response first if needed.
    /// - Parameter flush: deliver it now; `false` when more output or the end follows at once.
    func write(_ chunk: [UInt8], flush: Bool = true) throws {
        guard let status, var framing else {
            throw WSGIError(.responseNotStarted, "The application produced body output before calling startResponse.")
        }
        guard !ended else {
            throw ASGIProtocolError(.afterCompletion, "The response is already complete; nothing more can be written.")
        }
        guard !chunk.isEmpty else { return }
        let allowed = framing.admit(chunk.count)
        self.framing = framing
        guard allowed > 0 else { return }
        try sendHead(status)
        try sink.body(allowed == chunk.count ? chunk : Array(chunk.prefix(allowed)), flush: flush)
    }

    /// Ends the response (starting it first if the body was empty).
    /// - Parameter flush: deliver it now; `false` when the end of the call follows at once.
    func finish(flush: Bool) throws {
        guard let status else {
            throw WSGIError(.responseNotStarted, "The application returned without calling startResponse.")
        }
        guard !ended else { return }
        try sendHead(status)
        ended = true
        try sink.end(flush: flush)
    }

    /// Sends a file body: zero-copy when the transport can, else streamed. Adds its length as
    /// `Content-Length` when the application gave none.
    func send(_ file: inout WSGIFileBody) throws {
        guard let status, var framing else {
            throw WSGIError(.responseNotStarted, "The application returned a file before calling startResponse.")
        }
        if !headersSent, framing.declaredLength == nil, let length = file.length {
            headers.append(ASGIHeader(name: Array("content-length".utf8), value: Array(String(length).utf8)))
            framing = try ResponseFraming(status: status, headers: headers, requestMethod: requestMethod)
            self.framing = framing
        }
        if !headersSent, framing.bodyAllowed, let length = file.length, let path = file.absolutePath,
            framing.declaredLength.map({ $0 <= length }) ?? true
        {
            let sent = framing.declaredLength ?? length
            try sink.start(status: status, headers: headers)
            headersSent = true
            if try sink.pathsend(path, length: sent) {
                _ = framing.admit(sent)
                self.framing = framing
                ended = true
                return
            }
        }
        while !isSatisfied, let chunk = try file.next() {
            try write(chunk, flush: !completes(with: chunk))
        }
        try finish(flush: true)
    }

    /// Calls `handler` once when the client is gone (``WSGIServerHooks/onClientGone``).
    func onClientGone(_ handler: @escaping @Sendable () -> Void) {
        sink.onClientGone(handler)
    }

    /// Ends the response before the application returns (``WSGIServerHooks/completeResponse``).
    func completeResponse() throws {
        try finish(flush: true)
    }

    private func sendHead(_ status: Int) throws {
        guard !headersSent else { return }
        try sink.start(status: status, headers: headers)
        headersSent = true
    }

}
