import ASGI
import HummingbirdWebSocket
import NIOCore

/// Reassembles a WebSocket message from its frames for `websocket.receive`, within a size limit.
///
/// RFC 6455 §5.4 and §8.1: a message is a text or binary frame and the continuation frames up to
/// the one with FIN; a text message must be UTF-8. A message larger than the limit is refused with
/// 1009, text that is not UTF-8 with 1007, frames out of order with 1002; nothing past the limit
/// is ever held.
struct MessageAssembler {
    /// What one frame amounts to.
    enum Step {
        /// The message goes on in later frames.
        case incomplete
        /// A whole message.
        case message(ReceiveEvent)
        /// The peer broke a rule: close with this code.
        case refused(code: Int, reason: String)
    }

    /// The largest message, in bytes.
    let limit: Int
    private var opcode: WebSocketDataFrame.Opcode?
    private var bytes: [UInt8] = []

    init(limit: Int) {
        self.limit = limit
    }

    mutating func add(_ frame: WebSocketDataFrame) -> Step {
        switch frame.opcode {
        case .text, .binary:
            guard opcode == nil else { return .refused(code: 1002, reason: "A message began before the previous one ended") }
            opcode = frame.opcode
        case .continuation:
            guard opcode != nil else { return .refused(code: 1002, reason: "A continuation frame outside a message") }
        }
        guard frame.data.readableBytes <= limit - bytes.count else {
            return .refused(code: 1009, reason: "Message larger than \(limit) bytes")
        }
        bytes.append(contentsOf: frame.data.readableBytesView)
        guard frame.fin else { return .incomplete }
        let message = bytes
        let isText = opcode == .text
        opcode = nil
        bytes = []
        if isText {
            guard let text = String(validating: message, as: UTF8.self) else {
                return .refused(code: 1007, reason: "Invalid UTF-8 in a text message")
            }
            return .message(.websocketReceive(text: text))
        }
        return .message(.websocketReceive(bytes: message))
    }
}
