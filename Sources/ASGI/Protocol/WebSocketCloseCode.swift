/// The one rule for WebSocket close codes (RFC 6455 §7.4 and the IANA registry), shared by every
/// frontend: which codes may travel in a close frame, and how an application's invalid one is
/// refused.
///
/// - An application's `websocket.close` with a code no endpoint may send is an error from `send`
///   (``refusal(_:)``); the connection stays open, and the application may close it properly.
///   (Before `websocket.accept`, `websocket.close` denies the handshake with 403 whatever its code.)
/// - A peer's close frame with such a code (or a one-byte payload) is answered with
///   ``protocolError`` (1002).
@_spi(ASGIFrontend) public enum WebSocketCloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    public static let normalClosure = 1000
    /// 1001: the server is going away (shutting down).
    public static let goingAway = 1001
    /// 1002: the peer broke the protocol.
    public static let protocolError = 1002
    /// 1011: the server met a condition that kept it from going on.
    public static let internalError = 1011

    /// Whether an endpoint may send `code` in a close frame: the defined codes 1000–1003 and
    /// 1007–1014, and the ranges for libraries (3000–3999) and applications (4000–4999). 1004 is
    /// reserved; 1005, 1006 and 1015 only ever report what happened and never go on the wire.
    public static func peerMaySend(_ code: Int) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    /// Why an application may not close with `code`, in words (`nil` when it may).
    public static func refusal(_ code: Int) -> String? {
        guard !peerMaySend(code) else { return nil }
        return "close code \(code) cannot be sent (1000–1003, 1007–1014 or 3000–4999; 1005, 1006 and 1015 only report)"
    }
}
