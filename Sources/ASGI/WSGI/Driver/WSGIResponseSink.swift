/// Where the blocking-side WSGI driver's output goes: one frontend's transport (the ASGI side of
/// ``WSGIToASGI``, a FastCGI request).
///
/// The driver calls it only on the thread that runs the application, in protocol order: ``start``
/// once, then ``body(_:flush:)`` any number of times, then ``end(flush:)``; or ``answer(_:)`` alone
/// (before any output); or ``fail(_:)`` after the start when the application failed midway.
package protocol WSGIResponseSink: AnyObject {
    /// The response head (status, checked headers); the driver sends it only together with the
    /// first body bytes or the end, so an error can still replace it.
    func start(status: Int, headers: ASGIHeaders) throws

    /// A piece of the body. `flush`: deliver it now (a streamed response); `false` when more
    /// output or the end follows at once.
    func body(_ chunk: [UInt8], flush: Bool) throws

    /// The body is complete. `flush`: deliver the response now (work follows, such as the body's
    /// `close()`); `false` when the end of the application's call follows at once and carries it.
    func end(flush: Bool) throws

    /// The body is the file at `path` (absolute), `length` bytes: sends it without copying it
    /// through the application's thread when the transport can, and then ends the response.
    /// Returns `false` when it cannot; the driver then streams the file through ``body(_:flush:)``.
    func pathsend(_ path: String, length: Int) throws -> Bool

    /// Answers in place of the application (before any output): a limit, a failure.
    func answer(_ response: PlainResponse) throws

    /// The application failed after its response started: the transport cuts the response so the
    /// client sees it incomplete.
    func fail(_ error: any Error)

    /// Whether the client is gone (or the server stopped waiting for this request).
    var isClientGone: Bool { get }

    /// Calls `handler` once, when the client goes away (at once if it is gone). A transport that
    /// cannot notice a client leaving before it writes to it calls it when a write fails.
    /// Unlike the rest, it may be called from any thread (``BlockingExchange`` registers from
    /// whatever thread runs the application's `receive()`), so it must be thread-safe.
    func onClientGone(_ handler: @escaping @Sendable () -> Void)
}

/// What the server running a WSGI-style application offers an adapter of this package beyond
/// PEP 3333 (``ASGIToWSGI`` uses it to serve an ASGI application's disconnect and completion rules).
package struct WSGIServerHooks: Sendable {
    /// Ends the response now: what was written is all of it, though the application may go on.
    package var completeResponse: @Sendable () throws -> Void
    /// Registers a handler called once when the client is gone.
    package var onClientGone: @Sendable (@escaping @Sendable () -> Void) -> Void
    /// Writes the response's last chunk and ends the response, in one delivery (not a flushed
    /// write, then the end); `nil`: the adapter writes, then calls ``completeResponse``.
    package var writeLast: (@Sendable ([UInt8]) throws -> Void)?

    package init(
        completeResponse: @escaping @Sendable () throws -> Void,
        onClientGone: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void,
        writeLast: (@Sendable ([UInt8]) throws -> Void)? = nil
    ) {
        self.completeResponse = completeResponse
        self.onClientGone = onClientGone
        self.writeLast = writeLast
    }
}
