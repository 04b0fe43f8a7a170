import ASGI

/// Why a test communicator could not do what was asked.
///
/// Match on ``code``; new codes may be added in later versions, so `switch` over them with a
/// `default`.
///
/// ```swift
/// await #expect(throws: CommunicatorError.applicationFinished) { try await communicator.sendInput(.httpRequest()) }
/// ```
public struct CommunicatorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case applicationFinished
            case unexpectedEvent
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// The application has finished: it takes no more input and will send no more output.
        public static let applicationFinished = Code(.applicationFinished)
        /// The application sent an event where the communicator expected something else
        /// (``CommunicatorError/event`` is what it sent).
        public static let unexpectedEvent = Code(.unexpectedEvent)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The message, saying what happened and what to do.
    public let message: String
    /// For ``Code/unexpectedEvent``: the event the application sent.
    public let event: SendEvent?

    private init(_ code: Code, _ message: String, event: SendEvent? = nil) {
        self.code = code
        self.message = message
        self.event = event
    }

    /// The application has finished: it takes no more input and will send no more output.
    public static let applicationFinished = CommunicatorError(
        .applicationFinished,
        "The application has already finished: it takes no more input and sends no more output. "
            + "Check that it awaits every event the test sends, or read its result with wait()."
    )

    /// The application sent `event` where the communicator expected `expected`.
    public static func unexpectedEvent(_ event: SendEvent, expected: String) -> CommunicatorError {
        CommunicatorError(
            .unexpectedEvent,
            "Expected \(expected), but the application sent '\(event.type)': \(event). "
                + "Read that event with receiveOutput() if the application may send it.",
            event: event
        )
    }

    /// The message.
    public var description: String { message }

    /// Errors are equal when their codes are.
    public static func == (lhs: CommunicatorError, rhs: CommunicatorError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
