import ASGI

/// Why a test communicator could not do what was asked.
public enum CommunicatorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The application has finished: it takes no more input and will send no more output.
    case applicationFinished
    /// The application sent `event` where the communicator expected something else.
    case unexpectedEvent(SendEvent, expected: String)

    /// The message, saying what to do.
    public var description: String {
        switch self {
        case .applicationFinished:
            return "The application has already finished: it takes no more input and sends no more output."
        case .unexpectedEvent(let event, let expected):
            return "Expected \(expected), but the application sent '\(event.type)': \(event)."
        }
    }
}
