/// A ``StatelessServer`` subclass left out a method it has to provide.
///
/// Match on ``code``; new codes may be added in later versions, so `switch` over them with a
/// `default`.
public struct StatelessServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case handleNotImplemented
            case applicationSendNotImplemented
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// `handle()` was not overridden.
        public static let handleNotImplemented = Code(.handleNotImplemented)
        /// `applicationSend(scope:message:)` was not overridden.
        public static let applicationSendNotImplemented = Code(.applicationSendNotImplemented)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The message, saying what to do.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `handle()` was not overridden.
    public static let handleNotImplemented = StatelessServerError(
        .handleNotImplemented,
        "StatelessServer subclasses must override handle(): it reads the incoming messages "
            + "and passes them to getOrCreateApplicationInstance(scopeID:scope:)."
    )
    /// `applicationSend(scope:message:)` was not overridden.
    public static let applicationSendNotImplemented = StatelessServerError(
        .applicationSendNotImplemented,
        "StatelessServer subclasses must override applicationSend(scope:message:): it delivers "
            + "what an application instance sends to the party its scope names."
    )

    /// The message.
    public var description: String { message }

    /// Errors are equal when their codes are.
    public static func == (lhs: StatelessServerError, rhs: StatelessServerError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
