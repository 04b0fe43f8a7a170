import ASGI

/// How an application answered `websocket.connect`, as ``WebSocketCommunicator/connect(timeout:)``
/// reports it.
public struct WebSocketHandshake: Sendable, Hashable {
    /// Whether the application accepted the connection.
    public var accepted: Bool
    /// The subprotocol the application chose when it accepted.
    public var subprotocol: String?
    /// The extra headers the application sent with `websocket.accept`.
    public var headers: ASGIHeaders
    /// The close code, when the application refused with `websocket.close` (the client sees HTTP 403).
    public var closeCode: Int?
    /// The close reason, when the application refused with `websocket.close`.
    public var closeReason: String?
    /// The response, when the application refused with `websocket.http.response.start` and `.body`.
    public var denialResponse: TestResponse?

    /// Creates a handshake result.
    public init(
        accepted: Bool,
        subprotocol: String? = nil,
        headers: ASGIHeaders = [],
        closeCode: Int? = nil,
        closeReason: String? = nil,
        denialResponse: TestResponse? = nil
    ) {
        self.accepted = accepted
        self.subprotocol = subprotocol
        self.headers = headers
        self.closeCode = closeCode
        self.closeReason = closeReason
        self.denialResponse = denialResponse
    }
}
