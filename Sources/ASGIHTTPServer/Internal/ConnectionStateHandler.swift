@_spi(ASGIFrontend) import ASGI
import NIOCore
import NIOHTTP1

/// Watches an HTTP/1 connection on its event loop: closes it when it waits too long for its next
/// request (the keep-alive idle timeout, which also bounds a client that never finishes a request
/// head), and on graceful shutdown closes it as soon as no request is outstanding. The rules are
/// ``HTTPConnectionStateMachine``'s; this handler feeds it the connection's events and carries out
/// what it decides.
///
/// The idle clock starts when the last response's final bytes reached the socket, not when they
/// were queued, so a close on idle never drops bytes still on their way to a slow reader; a client
/// that takes nothing at all for the send timeout is closed.
///
/// A graceful shutdown never closes a keep-alive connection under a request the client may be
/// sending at that moment (which it would see as a reset and, unlike after `Connection: close`,
/// could not retry safely): responses written from then on say `Connection: close`, and a
/// connection with no request outstanding is given a short linger for one to arrive before it
/// is closed.
///
/// A request is outstanding from its head until the final `.end` of its response; pipelined
/// requests count one each, so a request waiting behind another keeps the connection open.
///
/// It also answers requests the parser refused (431 for a head over the size or count limits, 413
/// for a `Content-Length` past any body, 400 otherwise) and closes the connection: such a request never reaches the application.
final class ConnectionStateHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var machine: HTTPConnectionStateMachine
    private var idleTimer: Scheduled<Void>?
    private var stallTimer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?
    private let serverHeader: String?
    /// Sees the bytes the decoder refused (an oversized `Content-Length` is 413, a bad one 400), and
    /// bounds what the decoder holds after a protocol-switch request.
    private let decoderGuard: RequestDecoderGuard?

    init(idleTimeout: TimeAmount, sendTimeout: TimeAmount? = nil, serverHeader: String?, decoderGuard: RequestDecoderGuard? = nil) {
        self.machine = HTTPConnectionStateMachine(idleTimeout: idleTimeout, sendTimeout: sendTimeout, now: .uptimeNanoseconds(0))
        self.serverHeader = serverHeader
        self.decoderGuard = decoderGuard
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            perform(machine.becameActive(now: context.eventLoop.now), on: \.idleTimer, context: context, fired: idleTimerFired)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.becameActive(now: context.eventLoop.now), on: \.idleTimer, context: context, fired: idleTimerFired)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.closed()
        cancelTimers()
        context.fireChannelInactive()
    }

    private func cancelTimers() {
        idleTimer?.cancel()
        idleTimer = nil
        stallTimer?.cancel()
        stallTimer = nil
        lingerTimer?.cancel()
        lingerTimer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            machine.requestHeadRead(switchesProtocol: Self.switchesProtocol(head))
        case .end:
            // The decoder parses nothing after a protocol-switch request: bound what it will hold.
            if machine.requestEndRead() { decoderGuard?.decoderStopped() }
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    /// Whether the decoder stops after `head` (as llhttp decides: `CONNECT`, or `Upgrade` with
    /// `Connection: upgrade`).
    static func switchesProtocol(_ head: HTTPRequestHead) -> Bool {
        if head.method == .CONNECT { return true }
        guard head.headers.contains(name: "upgrade") else { return false }
        return head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(var head) where machine.responseHeadNeedsClose(status: Int(head.status.code)):
            // The connection closes after this response: say so, so the client does not send
            // another request on it.
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(Self.wrapOutboundOut(.head(head)), promise: promise)
        case .head, .body:
            // A 1xx head (100 Continue) has no `.end` of its own: only the final response's counts.
            context.write(data, promise: promise)
        case .end:
            switch machine.responseEndWritten(now: context.eventLoop.now, buffered: Self.buffered(context)) {
            case .forward:
                context.write(data, promise: promise)
            case .forwardWatching(let generation, let flush, let stallDeadline):
                let written = promise ?? context.eventLoop.makePromise()
                written.futureResult.assumeIsolated().whenSuccess { [self] in
                    perform(
                        machine.endFlushed(generation: generation, now: context.eventLoop.now),
                        on: \.idleTimer,
                        context: context,
                        fired: idleTimerFired
                    )
                }
                if flush {
                    context.writeAndFlush(data, promise: written)
                } else {
                    context.write(data, promise: written)
                }
                if let stallDeadline {
                    stallTimer?.cancel()
                    stallTimer = nil
                    perform(.arm(stallDeadline), on: \.stallTimer, context: context, fired: stallTimerFired)
                }
            }
        }
    }

    /// The bytes the channel holds for the client (0 where the channel does not say).
    private static func buffered(_ context: ChannelHandlerContext) -> Int {
        (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            perform(machine.quiesce(now: context.eventLoop.now), on: \.lingerTimer, context: context, fired: lingerFired)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        switch machine.parserFailed() {
        case .none:
            return
        case .close:
            context.close(promise: nil)
        case .answerAndClose:
            let answer: PlainResponse
            switch parseError {
            case .headerOverflow:
                answer = PlainResponse(status: 431)
            case .invalidContentLength:
                answer = decoderGuard?.oversizedContentLength.map(PlainResponse.contentLengthTooLarge) ?? PlainResponse(status: 400)
            default:
                answer = PlainResponse(status: 400)
            }
            let parts = ResponseHead.plain(answer, version: .http1_1, close: true, serverHeader: serverHeader)
            for part in parts.dropLast() { context.write(Self.wrapOutboundOut(part), promise: nil) }
            context.writeAndFlush(Self.wrapOutboundOut(parts[parts.count - 1])).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    // MARK: Timers

    private func idleTimerFired(context: ChannelHandlerContext) {
        idleTimer = nil
        perform(machine.idleTimerFired(now: context.eventLoop.now), on: \.idleTimer, context: context, fired: idleTimerFired)
    }

    private func stallTimerFired(context: ChannelHandlerContext) {
        stallTimer = nil
        let action = machine.stallTimerFired(now: context.eventLoop.now, buffered: Self.buffered(context))
        perform(action, on: \.stallTimer, context: context, fired: stallTimerFired)
    }

    private func lingerFired(context: ChannelHandlerContext) {
        lingerTimer = nil
        perform(machine.lingerFired(), on: \.lingerTimer, context: context, fired: lingerFired)
    }

    /// Carries out a timer decision: schedules `timer` to call `fired`, or closes the connection.
    private func perform(
        _ action: HTTPConnectionStateMachine.TimerAction,
        on timer: ReferenceWritableKeyPath<ConnectionStateHandler, Scheduled<Void>?>,
        context: ChannelHandlerContext,
        fired: @escaping (ChannelHandlerContext) -> Void
    ) {
        switch action {
        case .none:
            return
        case .arm(let deadline):
            self[keyPath: timer] = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                fired(context)
            }
        case .close:
            cancelTimers()
            context.close(promise: nil)
        }
    }
}
