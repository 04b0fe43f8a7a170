/// A lifespan startup that failed: the application refused to start, or broke the lifespan protocol.
///
/// Match on ``code``; new codes may be added in later versions, so `switch` over them with a
/// `default`. The Hummingbird application does not start serving after either.
public struct ASGILifespanError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case startupFailed
            case lifespanFailed
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// The application answered `lifespan.startup` with `lifespan.startup.failed`; the message
        /// carries its own. Fix what it names (a database, a configuration value) and start again.
        public static let startupFailed = Code(.startupFailed)
        /// The application raised on the lifespan scope, returned without answering, or answered
        /// with an unexpected event: make it answer `lifespan.startup`, or leave
        /// `addLifespan(_:)` out for an application that has no lifespan.
        public static let lifespanFailed = Code(.lifespanFailed)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What the application said, or how it broke the protocol.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }

    /// Errors are equal when their codes are.
    public static func == (lhs: ASGILifespanError, rhs: ASGILifespanError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
