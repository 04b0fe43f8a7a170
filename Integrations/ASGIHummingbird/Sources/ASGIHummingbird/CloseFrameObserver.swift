import NIOCore
import NIOWebSocket

/// Notes the peer's close frame (its code and reason) on its way to Hummingbird's WebSocket
/// handler, which answers it but does not tell its data handler what it said: the code
/// `websocket.disconnect` reports.
///
/// Installed right after the frame decoder once the upgrade completed and before the application's
/// `websocket.accept` returns, so a peer that answers the application sees its close frame noted.
final class CloseFrameObserver: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let noted: @Sendable (_ code: Int, _ reason: String) -> Void

    init(noted: @escaping @Sendable (_ code: Int, _ reason: String) -> Void) {
        self.noted = noted
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.opcode == .connectionClose {
            var payload = frame.unmaskedData
            if let code = payload.readInteger(as: UInt16.self) {
                noted(Int(code), payload.readString(length: payload.readableBytes) ?? "")
            } else {
                // RFC 6455 §7.1.5: a close frame without a code.
                noted(1005, "")
            }
        }
        context.fireChannelRead(data)
    }

    /// Installs an observer after `channel`'s frame decoder; without one (another pipeline), none.
    static func install(on channel: any Channel, noted: @escaping @Sendable (_ code: Int, _ reason: String) -> Void) async {
        let observer = CloseFrameObserver(noted: noted)
        try? await channel.eventLoop.submit {
            let sync = channel.pipeline.syncOperations
            let decoder = try sync.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try sync.addHandler(observer, position: .after(decoder))
        }.get()
    }
}
