/// Errors of ``ASGIHTTPServer``, each with a message that says what happened.
///
/// ``ASGIHTTPServer/run()`` throws ``Code/lifespanStartupFailed`` with the application's own
/// message when it answers `lifespan.startup.failed`. A `send` on a connection the client has
/// closed throws `ClientDisconnectedError`, as under every server of the package.
///
/// Match on ``code``; new codes may be added in later versions, so `switch` over them with a
/// `default`.
public struct HTTPServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case lifespanStartupFailed
            case lifespanFailed
            case bindFailed
            case alreadyRunning
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// The application answered `lifespan.startup` with `lifespan.startup.failed`.
        public static let lifespanStartupFailed = Code(.lifespanStartupFailed)
        /// The application raised on the lifespan scope while the lifespan mode was `on`.
        public static let lifespanFailed = Code(.lifespanFailed)
        /// The server could not listen on the configured address.
        public static let bindFailed = Code(.bindFailed)
        /// `run()` was called a second time.
        public static let alreadyRunning = Code(.alreadyRunning)

        /// The code's name.
        public var description: String { backing.rawValue }
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

    /// Errors are equal when their codes are.
    public static func == (lhs: HTTPServerError, rhs: HTTPServerError) -> Bool { lhs.code == rhs.code }
    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
