/// A breach of the ASGI protocol: an event out of order, or a scope an application does not serve.
///
/// Servers throw it from `send` so that an application that misbehaves learns it at once, never
/// by a silent drop. Match on ``code``; new codes may be added in later versions, so `switch` over
/// them with a `default`.
///
/// ```swift
/// do {
///     try await send(.httpResponseBody(body: chunk))
/// } catch let error as ASGIProtocolError where error.code == .afterCompletion {
///     logger.debug("the response was already complete: \(error)")
/// }
/// ```
public struct ASGIProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case unsupportedScope
            case unexpectedEvent
            case concurrentReceive
            case afterCompletion
            case incompleteResponse
            case offThread
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// The application received a scope type it does not handle: serve only the scope types
        /// it implements, or give it a case for the others.
        public static let unsupportedScope = Code(.unsupportedScope)
        /// An event the protocol does not allow at this point (out of order, or with a bad status
        /// or header): send the events in the order the ASGI specification gives.
        public static let unexpectedEvent = Code(.unexpectedEvent)
        /// `receive()` was called while another `receive()` was still waiting: await one at a time.
        public static let concurrentReceive = Code(.concurrentReceive)
        /// A `send()` or a read after the response or the request was complete: stop sending once
        /// the final body (`moreBody: false`) went out, and never use `send` after returning.
        public static let afterCompletion = Code(.afterCompletion)
        /// The application returned without finishing its response: send `http.response.start`
        /// and a final `http.response.body` before returning.
        public static let incompleteResponse = Code(.incompleteResponse)
        /// A blocking server's request was used off the thread that serves it (`wsgi.input` read,
        /// or `send`/`receive` called from a task that outlived the application): use them on the
        /// application's own thread, before it returns.
        public static let offThread = Code(.offThread)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What went wrong, in words that name the events involved.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }

    /// An application received a scope type it does not handle.
    public static func unsupportedScope(_ type: String) -> ASGIProtocolError {
        ASGIProtocolError(.unsupportedScope, "This application does not handle '\(type)' scopes.")
    }

    /// An event was sent that the protocol does not allow at this point.
    public static func unexpected(_ event: SendEvent, _ reason: String) -> ASGIProtocolError {
        ASGIProtocolError(.unexpectedEvent, "Unexpected '\(event.type)' event: \(reason).")
    }

    /// Errors are equal when their codes are.
    public static func == (lhs: ASGIProtocolError, rhs: ASGIProtocolError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
