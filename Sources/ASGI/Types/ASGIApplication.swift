/// Receives the next event from the server.
public typealias Receive = @Sendable () async throws -> ReceiveEvent
/// Sends an event to the server.
public typealias Send = @Sendable (SendEvent) async throws -> Void

/// An ASGI 3 application: called once per connection with its scope and two event channels.
///
/// ```swift
/// struct Hello: ASGIApplication {
///     func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
///         guard case .http = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
///         try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
///         try await send(.httpResponseBody(body: Array("hello".utf8)))
///     }
/// }
/// ```
public protocol ASGIApplication: Sendable {
    /// Serves one connection.
    func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws
}

/// An ASGI application made from a closure.
///
/// ```swift
/// let app = ASGIApp { scope, receive, send in
///     try await send(.httpResponseStart(status: 204))
///     try await send(.httpResponseBody())
/// }
/// ```
public struct ASGIApp: ASGIApplication {
    private let body: @Sendable (Scope, @escaping Receive, @escaping Send) async throws -> Void

    /// Wraps `body` as an application.
    public init(_ body: @escaping @Sendable (Scope, @escaping Receive, @escaping Send) async throws -> Void) {
        self.body = body
    }

    /// Serves one connection by calling the closure.
    public func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        try await body(scope, receive, send)
    }
}
