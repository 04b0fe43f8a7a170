@_spi(ASGIFrontend) import ASGI
import NIOCore
import NIOHTTP1

/// Watches an HTTP/1 connection on its event loop: closes it when it waits too long for its next
/// request (the keep-alive idle timeout, which also bounds a client that never finishes a request
/// head), and on graceful shutdown closes it as soon as no request is outstanding.
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

    private let idleTimeout: TimeAmount
    private var outstanding = 0
    private var idleSince: NIODeadline
    private var timer: Scheduled<Void>?
    private var quiescing = false
    private var lingerTimer: Scheduled<Void>?
    /// How long a graceful shutdown waits on a connection with no request outstanding.
    private static let quiesceLinger = TimeAmount.seconds(1)
    private var failed = false
    private let serverHeader: String?
    /// Sees the bytes the decoder refused (an oversized `Content-Length` is 413, a bad one 400), and
    /// bounds what the decoder holds after a protocol-switch request.
    private let decoderGuard: RequestDecoderGuard?

    init(idleTimeout: TimeAmount, serverHeader: String?, decoderGuard: RequestDecoderGuard? = nil) {
        self.idleTimeout = idleTimeout
        self.serverHeader = serverHeader
        self.decoderGuard = decoderGuard
        self.idleSince = .now()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { becameIdle(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        lingerTimer?.cancel()
        lingerTimer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        becameIdle(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        lingerTimer?.cancel()
        lingerTimer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            outstanding += 1
            switchesProtocol = Self.switchesProtocol(head)
        case .end where switchesProtocol:
            // The decoder parses nothing after this request: bound what it will hold.
            decoderGuard?.decoderStopped()
        case .body, .end:
            break
        }
        context.fireChannelRead(data)
    }

    /// The request just read asks for a protocol switch, after which the decoder stops parsing.
    private var switchesProtocol = false

    /// Whether the decoder stops after `head` (as llhttp decides: `CONNECT`, or `Upgrade` with
    /// `Connection: upgrade`).
    private static func switchesProtocol(_ head: HTTPRequestHead) -> Bool {
        if head.method == .CONNECT { return true }
        guard head.headers.contains(name: "upgrade") else { return false }
        return head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(var head) where quiescing && head.status.code >= 200:
            // The connection closes after this response: say so, so the client does not send
            // another request on it.
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(Self.wrapOutboundOut(.head(head)), promise: promise)
        case .head, .body:
            // A 1xx head (100 Continue) has no `.end` of its own: only the final response's counts.
            context.write(data, promise: promise)
        case .end:
            if outstanding > 0 { outstanding -= 1 }
            if outstanding == 0 && quiescing {
                context.writeAndFlush(data).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                promise?.succeed()
                return
            }
            context.write(data, promise: promise)
            if outstanding == 0 { becameIdle(context: context) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if outstanding == 0 {
                // A request may be on its way: give it a moment to arrive and be answered with
                // `Connection: close` rather than closing under it.
                let linger = min(Self.quiesceLinger, idleTimeout)
                lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: linger) { [self] in
                    lingerTimer = nil
                    if outstanding == 0 { context.close(promise: nil) }
                }
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !failed else { return }
        failed = true
        guard outstanding == 0 else {
            // A response is still due on this connection: the broken request cannot be answered in turn.
            context.close(promise: nil)
            return
        }
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

    /// Starts (or keeps) the idle clock; one timer re-arms itself rather than one per request.
    private func becameIdle(context: ChannelHandlerContext) {
        idleSince = .now()
        guard timer == nil else { return }
        schedule(context: context, at: idleSince + idleTimeout)
    }

    private func schedule(context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loopBound = context.eventLoop.assumeIsolated()
        timer = loopBound.scheduleTask(deadline: deadline) { [self] in
            timer = nil
            guard outstanding == 0 else { return }
            let due = idleSince + idleTimeout
            if due <= .now() {
                context.close(promise: nil)
            } else {
                schedule(context: context, at: due)
            }
        }
    }
}
