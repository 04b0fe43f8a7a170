@_spi(ASGIFrontend) import ASGI
import NIOCore
import NIOWebSocket

/// Sits between Hummingbird's WebSocket handler and the frame codec, for the two things that
/// handler does not do as the package's frontends do:
///
/// - it notes the peer's close frame (its code and reason) on its way in: Hummingbird answers it
///   but does not tell its data handler what it said, which is the code `websocket.disconnect`
///   reports;
/// - on a graceful shutdown Hummingbird closes open WebSockets with 1000 (normal closure); the
///   package's HTTP server says 1001 (going away), which tells a client it may reconnect
///   elsewhere. A close frame going out is rewritten to 1001 when `isShutdownClose` says it is
///   that shutdown's (not the application's own close, nor the answer to the peer's).
///
/// Installed right after the frame decoder once the upgrade completed and before the application's
/// `websocket.accept` returns, so a peer that answers the application sees its close frame noted.
final class CloseFrameObserver: ChannelDuplexHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let noted: @Sendable (_ code: Int, _ reason: String) -> Void
    private let isShutdownClose: @Sendable () -> Bool

    init(noted: @escaping @Sendable (_ code: Int, _ reason: String) -> Void, isShutdownClose: @escaping @Sendable () -> Bool) {
        self.noted = noted
        self.isShutdownClose = isShutdownClose
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

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        guard frame.opcode == .connectionClose,
            frame.unmaskedData.getInteger(at: frame.unmaskedData.readerIndex, as: UInt16.self) == UInt16(WebSocketCloseCode.normalClosure),
            isShutdownClose()
        else {
            context.write(data, promise: promise)
            return
        }
        var payload = context.channel.allocator.buffer(capacity: 2 + Self.shutdownReason.utf8.count)
        payload.writeInteger(UInt16(WebSocketCloseCode.goingAway))
        payload.writeString(Self.shutdownReason)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)), promise: promise)
    }

    /// The reason the server's 1001 gives, as the HTTP server's.
    static let shutdownReason = "Server shutting down"

    /// Installs an observer after `channel`'s frame decoder; without one (another pipeline), none.
    static func install(
        on channel: any Channel,
        noted: @escaping @Sendable (_ code: Int, _ reason: String) -> Void,
        isShutdownClose: @escaping @Sendable () -> Bool
    ) async {
        let observer = CloseFrameObserver(noted: noted, isShutdownClose: isShutdownClose)
        try? await channel.eventLoop.submit {
            let sync = channel.pipeline.syncOperations
            let decoder = try sync.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try sync.addHandler(observer, position: .after(decoder))
        }.get()
    }
}
