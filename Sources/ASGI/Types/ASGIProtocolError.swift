/// A breach of the ASGI protocol: an event out of order, or a scope an application does not serve.
///
/// Servers throw it from `send` so that an application that misbehaves learns it at once, never
/// by a silent drop.
public struct ASGIProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, in words that name the events involved.
    public let message: String

    /// Creates an error with a message.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    /// An application received a scope type it does not handle.
    public static func unsupportedScope(_ type: String) -> ASGIProtocolError {
        ASGIProtocolError("This application does not handle '\(type)' scopes.")
    }

    /// An event was sent that the protocol does not allow at this point.
    public static func unexpected(_ event: SendEvent, _ reason: String) -> ASGIProtocolError {
        ASGIProtocolError("Unexpected '\(event.type)' event: \(reason).")
    }
}
