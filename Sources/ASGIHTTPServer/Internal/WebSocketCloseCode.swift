/// Which WebSocket close codes may travel in a close frame (RFC 6455 §7.4 and the IANA registry).
enum WebSocketCloseCode {
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
