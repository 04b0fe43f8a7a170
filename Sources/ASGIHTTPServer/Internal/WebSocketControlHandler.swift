import NIOCore
import NIOWebSocket

/// Does on the event loop what a WebSocket server does whatever the application is doing:
/// answers pings, drops pongs, runs the closing handshake (echoes the peer's close, closes the TCP
/// connection once both closes have crossed, or after a timeout), and on graceful shutdown sends
/// close 1001 ("going away").
///
/// Against a peer that misbehaves: pongs to a peer that does not read are not queued without end
/// (while the connection cannot take more, only the latest ping gets its pong, as RFC 6455 §5.5.3
/// allows); a peer that sends nothing for a ping interval is pinged, and one still silent a whole
/// interval later is closed with 1011; a close frame with a code no endpoint may send is answered
/// with 1002.
///
/// Close frames still travel inbound, so the application learns the peer's code and reason.
final class WebSocketControlHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let closeTimeout: TimeAmount
    private let pingInterval: TimeAmount?
    private var closeSent = false
    private var closeReceived = false
    private var closeTimer: Scheduled<Void>?
    private var pingTimer: Scheduled<Void>?
    /// Whether nothing arrived since the last ping the server sent.
    private var awaitingPeer = false
    /// The payload of the latest ping not answered yet because the connection could not take more.
    private var pendingPong: ByteBuffer?

    init(closeTimeout: TimeAmount, pingInterval: TimeAmount?) {
        self.closeTimeout = closeTimeout
        self.pingInterval = pingInterval
    }

    func handlerAdded(context: ChannelHandlerContext) {
        schedulePing(context: context)
    }

    private func schedulePing(context: ChannelHandlerContext) {
        guard let pingInterval, pingInterval > .zero, !closeSent else { return }
        pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: pingInterval) {
            self.pingTimerFired(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeTimer?.cancel()
        pingTimer?.cancel()
        pingTimer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeTimer?.cancel()
        closeTimer = nil
        pingTimer?.cancel()
        pingTimer = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let payload = pendingPong {
            pendingPong = nil
            if !closeSent {
                context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)), promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    private func pingTimerFired(context: ChannelHandlerContext) {
        guard !closeSent else { return }
        if awaitingPeer {
            // Silent for a whole interval after a ping: the peer is gone or stuck.
            closeSent = true
            pingTimer?.cancel()
            pingTimer = nil
            var payload = context.channel.allocator.buffer(capacity: 2 + 20)
            payload.write(webSocketErrorCode: .unexpectedServerError)
            payload.writeString("keepalive timeout")
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
            context.writeAndFlush(Self.wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        awaitingPeer = true
        context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
        schedulePing(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        awaitingPeer = false
        switch frame.opcode {
        case .ping:
            guard !closeSent else { return }
            guard context.channel.isWritable else {
                // The peer does not read what it is sent: answer only its latest ping, later.
                pendingPong = frame.unmaskedData
                return
            }
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
                // Echo the peer's status code (RFC 6455 §5.5.1), then close the connection; a code
                // no endpoint may send (or a one-byte payload) is a protocol error (§7.4.1).
                closeSent = true
                var payload = frame.unmaskedData
                var code = payload.readSlice(length: 2) ?? ByteBuffer()
                if !Self.mayEcho(closePayload: frame.unmaskedData) {
                    code = context.channel.allocator.buffer(capacity: 2)
                    code.write(webSocketErrorCode: .protocolError)
                }
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

    /// Whether a peer's close payload may be echoed: empty, or a code an endpoint may send.
    private static func mayEcho(closePayload payload: ByteBuffer) -> Bool {
        switch payload.readableBytes {
        case 0: return true
        case 1: return false
        default: return payload.getInteger(at: payload.readerIndex, as: UInt16.self).map { WebSocketCloseCode.peerMaySend(Int($0)) } ?? false
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
