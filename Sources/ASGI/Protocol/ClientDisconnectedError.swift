/// The client went away: what every server and adapter of the package throws from `send` (and
/// from a WSGI-style application's reads and writes) once the connection is gone.
///
/// An application may catch it to stop work nobody will see (ASGI HTTP spec 2.4); servers never
/// log it as an application error. Match on ``code`` for why; new codes may come in later
/// versions, so `switch` over them with a `default`.
///
/// ```swift
/// do {
///     try await send(.httpResponseBody(body: chunk, moreBody: true))
/// } catch is ClientDisconnectedError {
///     return   // the client left: stop streaming
/// }
/// ```
public struct ClientDisconnectedError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why the connection is considered gone.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case connectionClosed
            case bodyIncomplete
            case readTimedOut
            case requestAbandoned
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// The client (or the web server in front) closed the connection, or a write to it failed.
        public static let connectionClosed = Code(.connectionClosed)
        /// The request body ended before the length it declared.
        public static let bodyIncomplete = Code(.bodyIncomplete)
        /// No request body data arrived within the server's read timeout.
        public static let readTimedOut = Code(.readTimedOut)
        /// The server stopped waiting for this request (it was cancelled: a timeout, a shutdown).
        public static let requestAbandoned = Code(.requestAbandoned)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// Why.
    public let code: Code
    /// Details for the log.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The connection closed: the client went away, or a write to it failed.
    public static let connectionClosed = ClientDisconnectedError(.connectionClosed, "The client disconnected; nothing more can be sent or read.")

    /// The server stopped waiting for the request.
    public static let requestAbandoned = ClientDisconnectedError(
        .requestAbandoned,
        "The server stopped serving this request (cancelled: a timeout or a shutdown)."
    )

    /// The message.
    public var description: String { message }

    /// Errors are equal when their codes are.
    public static func == (lhs: ClientDisconnectedError, rhs: ClientDisconnectedError) -> Bool { lhs.code == rhs.code }
    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
