/// An error of the FastCGI frontend: starting the server, or serving a request.
///
/// Match on ``code``; new codes may be added in later versions, so `switch` over them with a
/// `default`.
///
/// ```swift
/// do {
///     try await server.run()
/// } catch let error as FastCGIError where error.code == .addressInUse {
///     logger.critical("another server owns the socket: \(error)")
/// }
/// ```
public struct FastCGIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case invalidConfiguration
            case bindFailed
            case addressInUse
            case acceptFailed
            case notAListeningSocket
            case alreadyRunning
            case requestTimedOut
            case threadStartFailed
            case libraryInitFailed
            case lifespanStartupFailed
            case lifespanFailed
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// A configuration value cannot work (the message names it).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// Creating, binding or listening on the socket failed.
        public static let bindFailed = Code(.bindFailed)
        /// Another server answers on the unix socket path (or holds the TCP port).
        public static let addressInUse = Code(.addressInUse)
        /// Accepting connections failed for good (the listening socket broke); the server stopped.
        public static let acceptFailed = Code(.acceptFailed)
        /// The inherited file descriptor 0 is not a listening stream socket.
        public static let notAListeningSocket = Code(.notAListeningSocket)
        /// `run()` was called on a server that is running or has run.
        public static let alreadyRunning = Code(.alreadyRunning)
        /// The request ran past the configured request timeout; its reads and writes fail with this.
        public static let requestTimedOut = Code(.requestTimedOut)
        /// A worker thread could not be started.
        public static let threadStartFailed = Code(.threadStartFailed)

        /// libfcgi's `FCGX_Init` failed.
        public static let libraryInitFailed = Code(.libraryInitFailed)
        /// The application answered `lifespan.startup` with `lifespan.startup.failed` (the message
        /// carries its own); the server did not start serving.
        public static let lifespanStartupFailed = Code(.lifespanStartupFailed)
        /// With ``FastCGIConfiguration/lifespan`` `.on`: the application raised on the lifespan
        /// scope (or returned without answering).
        public static let lifespanFailed = Code(.lifespanFailed)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// Details for the log or the operator.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }

    /// Errors are equal when their codes are.
    public static func == (lhs: FastCGIError, rhs: FastCGIError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
