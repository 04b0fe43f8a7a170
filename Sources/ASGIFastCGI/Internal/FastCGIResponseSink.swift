@_spi(ASGIFrontend) import ASGI

/// The FastCGI transport of the WSGI driver: the response of one request on its worker thread.
///
/// The CGI head is held until the first body bytes (or the end) so both go out in one write; each
/// chunk is flushed to the web server when the driver says so; the end with `flush` sends
/// `FCGI_END_REQUEST` at once (``FastCGIRequest/completeResponse()``), before the body's `close()`
/// or the application's work after its response. Files are streamed (libfcgi has no sendfile).
final class FastCGIResponseSink: WSGIResponseSink {
    let request: FastCGIRequest
    private var pendingHead: [UInt8]?
    private var status = 0
    /// The application failed after its response started: the worker cuts the connection.
    private(set) var failed = false

    init(request: FastCGIRequest) {
        self.request = request
    }

    func start(status: Int, headers: ASGIHeaders) throws {
        self.status = status
        pendingHead = FastCGIRequest.responseHead(status: status, headers: headers)
    }

    func body(_ chunk: [UInt8], flush: Bool) throws {
        let head = pendingHead
        pendingHead = nil
        try request.write(head: head, status: status, body: chunk, flush: flush)
    }

    func end(flush: Bool) throws {
        if let head = pendingHead {
            pendingHead = nil
            try request.write(head: head, status: status, body: [], flush: false)
        }
        if flush { request.completeResponse() }
    }

    func pathsend(_ path: String, length: Int) throws -> Bool {
        false
    }

    func answer(_ response: PlainResponse) throws {
        guard request.respond(response) else { throw ClientDisconnectedError.connectionClosed }
    }

    func fail(_ error: any Error) {
        failed = true
    }

    var isClientGone: Bool { request.isBroken }

    func onClientGone(_ handler: @escaping @Sendable () -> Void) {
        request.onDisconnect(handler)
    }
}
