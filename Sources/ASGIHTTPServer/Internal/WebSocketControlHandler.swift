import NIOCore
import NIOWebSocket

/// Does on the event loop what a WebSocket server does whatever the application is doing:
/// answers pings, drops pongs, runs the closing handshake (echoes the peer's close, closes the TCP
/// connection once both closes have crossed, or after a timeout), and on graceful shutdown sends
/// close 1001 ("going away").
///
/// Close frames still travel inbound, so the application learns the peer's code and reason.
final class WebSocketControlHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let closeTimeout: TimeAmount
    private var closeSent = false
    private var closeReceived = false
    private var closeTimer: Scheduled<Void>?

    init(closeTimeout: TimeAmount) {
        self.closeTimeout = closeTimeout
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeTimer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeTimer?.cancel()
        closeTimer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            guard !closeSent else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .pong:
            return
        case .connectionClose:
            guard !closeReceived else { return }
            closeReceived = true
            // The application learns the peer's code first; then the handshake ends the connection.
            context.fireChannelRead(data)
            if closeSent {
                context.close(promise: nil)
            } else {
                // Echo the peer's status code (RFC 6455 §5.5.1), then close the connection.
                closeSent = true
                var payload = frame.unmaskedData
                let code = payload.readSlice(length: 2) ?? ByteBuffer()
                let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: code)
                context.writeAndFlush(Self.wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            }
        default:
            guard !closeReceived else { return }
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = Self.unwrapOutboundIn(data)
        if closeSent {
            // Nothing may follow a close frame; the application learns it from `send`.
            promise?.fail(ChannelError.outputClosed)
            return
        }
        if frame.opcode == .connectionClose {
            closeSent = true
            if closeReceived {
                context.writeAndFlush(data).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                promise?.succeed()
                return
            }
            startCloseTimer(context: context)
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            guard !closeSent else { return }
            closeSent = true
            var payload = context.channel.allocator.buffer(capacity: 2 + 24)
            payload.write(webSocketErrorCode: .goingAway)
            payload.writeString("Server shutting down")
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
            startCloseTimer(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func startCloseTimer(context: ChannelHandlerContext) {
        guard closeTimer == nil else { return }
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: closeTimeout) {
            context.close(promise: nil)
        }
    }
}
