/// Which WebSocket close codes may travel in a close frame (RFC 6455 §7.4 and the IANA registry).
enum WebSocketCloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    static let normalClosure = 1000
    /// 1001: the server is going away (shutting down).
    static let goingAway = 1001
    /// 1002: the peer broke the protocol.
    static let protocolError = 1002
    /// 1011: the server met a condition that kept it from going on.
    static let internalError = 1011

    /// Whether an endpoint may send `code` in a close frame: the defined codes 1000–1003 and
    /// 1007–1014, and the ranges for libraries (3000–3999) and applications (4000–4999). 1004 is
    /// reserved; 1005, 1006 and 1015 only ever report what happened and never go on the wire.
    static func peerMaySend(_ code: Int) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}
