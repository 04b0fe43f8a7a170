@_spi(ASGIFrontend) import ASGI
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
///
/// The rules are ``WebSocketStateMachine``'s; this handler feeds it the connection's events and
/// carries out what it decides.
final class WebSocketControlHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let closeTimeout: TimeAmount
    private let pingInterval: TimeAmount?
    private var machine = WebSocketStateMachine()
    private var closeTimer: Scheduled<Void>?
    private var pingTimer: Scheduled<Void>?

    init(closeTimeout: TimeAmount, pingInterval: TimeAmount?) {
        self.closeTimeout = closeTimeout
        self.pingInterval = pingInterval
    }

    func handlerAdded(context: ChannelHandlerContext) {
        schedulePing(context: context)
    }

    private func schedulePing(context: ChannelHandlerContext) {
        guard let pingInterval, pingInterval > .zero, machine.pingsDue else { return }
        pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: pingInterval) {
            self.pingTimerFired(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.closed()
        cancelTimers()
        context.fireChannelInactive()
    }

    private func cancelTimers() {
        closeTimer?.cancel()
        closeTimer = nil
        pingTimer?.cancel()
        pingTimer = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let payload = machine.becameWritable() {
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)), promise: nil)
        }
        context.fireChannelWritabilityChanged()
    }

    private func pingTimerFired(context: ChannelHandlerContext) {
        pingTimer = nil
        switch machine.pingTimerFired() {
        case .none:
            return
        case .closeSilentPeer:
            // Silent for a whole interval after a ping: the peer is gone or stuck. The connection
            // closes once the close frame is out, or at the close timeout: a peer that does not
            // read either keeps the frame queued behind what it left unread.
            let frame = closeFrame(code: WebSocketCloseCode.internalError, reason: "keepalive timeout", context: context)
            startCloseTimer(context: context)
            context.writeAndFlush(Self.wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        case .sendPing:
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
            schedulePing(context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch machine.frameReceived(frame, writable: context.channel.isWritable) {
        case .forward:
            context.fireChannelRead(data)
        case .drop:
            return
        case .sendPong(let payload):
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)), promise: nil)
        case .forwardThenClose:
            // The application learns the peer's code first; then the handshake ends the connection.
            context.fireChannelRead(data)
            context.close(promise: nil)
        case .forwardThenReply(let code):
            context.fireChannelRead(data)
            var payload = context.channel.allocator.buffer(capacity: 2)
            if let code { payload.writeInteger(code) }
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
            context.writeAndFlush(Self.wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch machine.frameWritten(opcode: Self.unwrapOutboundIn(data).opcode) {
        case .fail:
            // Nothing may follow a close frame; the application learns it from `send`.
            promise?.fail(ChannelError.outputClosed)
        case .write:
            context.write(data, promise: promise)
        case .writeAndStartCloseTimer:
            startCloseTimer(context: context)
            context.write(data, promise: promise)
        case .writeThenClose:
            context.writeAndFlush(data).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            promise?.succeed()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            guard machine.quiesce() else { return }
            let frame = closeFrame(code: WebSocketCloseCode.goingAway, reason: "Server shutting down", context: context)
            context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
            startCloseTimer(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func closeFrame(code: Int, reason: String, context: ChannelHandlerContext) -> WebSocketFrame {
        var payload = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.writeInteger(UInt16(code))
        payload.writeString(reason)
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
    }

    private func startCloseTimer(context: ChannelHandlerContext) {
        guard closeTimer == nil else { return }
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: closeTimeout) { [self] in
            machine.closeTimerFired()
            context.close(promise: nil)
        }
    }
}
