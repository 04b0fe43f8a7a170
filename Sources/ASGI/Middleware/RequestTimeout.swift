import AsyncBridge
public import Logging
import Synchronization

/// Limits how long an application may take over one HTTP request.
///
/// Past the limit the application is cancelled (a WSGI-style application behind ``WSGIToASGI``
/// gets a disconnect on its next read or write; its thread is freed when it returns) and, if no
/// response has started, the client gets `504 Gateway Timeout`; otherwise the call fails so the
/// server aborts the connection. Either way one warning is logged. Other scopes pass through.
///
/// The deadline costs nothing once the request has ended: it lives in the process-wide deadline
/// heap behind `withTimeout(_:_:)` and leaves it when the application returns, so a
/// long limit holds no memory for the requests that finished well within it.
///
/// ```swift
/// let app = RequestTimeout(WSGIToASGI(legacy), limit: .seconds(30))
/// ```
public struct RequestTimeout: ASGIApplication {
    /// The wrapped application.
    public let application: any ASGIApplication
    /// The longest a request may take.
    public let limit: Duration
    /// Where the timeout is logged.
    public let logger: Logger

    /// Wraps `application` with a time limit per request.
    public init(_ application: any ASGIApplication, limit: Duration, logger: Logger = Logger(label: "asgi.timeout")) {
        self.application = application
        self.limit = limit
        self.logger = logger
    }

    /// Serves one connection within the limit.
    /// - Throws: `TimeoutError` when the limit passed after the response started.
    public func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        guard case .http(let http) = scope else {
            return try await application(scope: scope, receive: receive, send: send)
        }
        let started = Atomic<Bool>(false)
        let application = self.application
        do {
            try await withTimeout(limit) {
                try await application(
                    scope: scope,
                    receive: receive,
                    send: { event in
                        if case .httpResponseStart = event { started.store(true, ordering: .relaxed) }
                        try await send(event)
                    }
                )
            }
        } catch let error as TimeoutError {
            logger.warning("Request \(http.method) \(http.path) exceeded the time limit of \(limit).")
            guard !started.load(ordering: .relaxed) else { throw error }
            let body = Array("Gateway Timeout\n".utf8)
            try await send(
                .httpResponseStart(
                    status: 504,
                    headers: [
                        ("content-type", "text/plain; charset=utf-8"), ("content-length", String(body.count)),
                    ]
                )
            )
            try await send(.httpResponseBody(body: body))
        }
    }
}
