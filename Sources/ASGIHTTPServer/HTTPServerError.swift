/// Errors of ``ASGIHTTPServer``, each with a message that says what happened.
///
/// Two of them reach applications and callers on purpose:
/// - `send` on a connection the client has closed throws ``clientDisconnected`` (ASGI HTTP spec 2.4:
///   the application may catch it; the server does not log it as an error);
/// - ``ASGIHTTPServer/run()`` throws ``Code/lifespanStartupFailed`` with the application's own
///   message when it answers `lifespan.startup.failed`.
public struct HTTPServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public enum Code: String, Hashable, Sendable {
        /// The client closed the connection (or the server closed it) before the event could be sent.
        case clientDisconnected
        /// The application answered `lifespan.startup` with `lifespan.startup.failed`.
        case lifespanStartupFailed
        /// The application raised on the lifespan scope while the lifespan mode was `on`.
        case lifespanFailed
        /// The server could not listen on the configured address.
        case bindFailed
        /// `run()` was called a second time.
        case alreadyRunning
    }

    /// What went wrong.
    public let code: Code
    /// Details for the log or the developer.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }

    /// The connection is closed: the event could not be sent.
    public static let clientDisconnected = HTTPServerError(.clientDisconnected, "The client disconnected; the event was not sent.")

    /// Errors are equal when their codes are.
    public static func == (lhs: HTTPServerError, rhs: HTTPServerError) -> Bool { lhs.code == rhs.code }
    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
