import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization

/// What a connection's first request turned it into.
enum UpgradeResult: Sendable {
    /// Plain HTTP/1.1 (also after a refused WebSocket handshake, whose request is replayed).
    case http(NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>)
    /// A WebSocket after a completed handshake.
    case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
}

/// An accepted connection, as the accept loop hands it to its task.
struct AcceptedConnection: Sendable {
    let channel: any Channel
    /// Resolves once the first request shows whether the connection stays HTTP or becomes a WebSocket.
    let upgrade: EventLoopFuture<UpgradeResult>
    /// Where a WebSocket handshake request waits for the application's answer.
    let handshake: WebSocketHandshake
    /// Within the connection limit.
    let admitted: Bool
}

/// The meeting point of NIO's WebSocket upgrader and the connection's task.
///
/// NIO asks `shouldUpgrade` on the event loop; the ASGI application answers (`websocket.accept` or a
/// denial) from the connection's task. The first of "a handshake request arrived" and "the upgrade
/// settled without one" is what the task sees first.
final class WebSocketHandshake: Sendable {
    enum Event: Sendable {
        /// A WebSocket handshake: complete the promise with the 101's extra headers, or `nil` to refuse.
        case handshake(HTTPRequestHead, EventLoopPromise<HTTPHeaders?>)
        /// No handshake: wait on the upgrade future.
        case settled
    }

    private let first: EventLoopPromise<Event>
    private let claimed = Atomic<Bool>(false)

    init(eventLoop: any EventLoop) {
        first = eventLoop.makePromise(of: Event.self)
    }

    /// The first thing that happened.
    var event: EventLoopFuture<Event> { first.futureResult }

    /// NIO's `shouldUpgrade`: hand the request to the connection's task and let it answer.
    func offer(_ head: HTTPRequestHead, eventLoop: any EventLoop) -> EventLoopFuture<HTTPHeaders?> {
        let answer = eventLoop.makePromise(of: HTTPHeaders?.self)
        if claim() {
            first.succeed(.handshake(head, answer))
        } else {
            answer.succeed(nil)
        }
        return answer.futureResult
    }

    /// Watches the upgrade: if it settles before any handshake, say so.
    func watch(_ upgrade: EventLoopFuture<UpgradeResult>) {
        upgrade.whenComplete { _ in
            if self.claim() { self.first.succeed(.settled) }
        }
    }

    private func claim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}

extension ServerContext {
    /// Sets up an accepted channel: HTTP/1.1 codec with limits, idle and quiesce handling, and the
    /// WebSocket upgrader whose decision is the application's.
    func setUpChild(_ channel: any Channel) -> EventLoopFuture<AcceptedConnection> {
        let admitted = connectionOpened()
        channel.closeFuture.whenComplete { _ in self.connectionClosed() }
        return channel.eventLoop.makeCompletedFuture {
            let handshake = WebSocketHandshake(eventLoop: channel.eventLoop)
            let decoderGuard = RequestDecoderGuard()
            let stateHandler = ConnectionStateHandler(
                idleTimeout: idleTimeout,
                sendTimeout: sendTimeout,
                serverHeader: configuration.serverHeader,
                decoderGuard: decoderGuard
            )
            let maxMessage = configuration.maxWebSocketMessageBytes
            let closeTimeout = webSocketCloseTimeout
            let maxFragments = max(1, configuration.maxWebSocketFragments)
            let pingInterval = configuration.webSocketPingInterval.map { TimeAmount($0) }
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: min(maxMessage, Int(UInt32.max)),
                enableAutomaticErrorHandling: true,
                shouldUpgrade: { channel, head in
                    handshake.offer(head, eventLoop: channel.eventLoop)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        // Idle and quiesce handling is HTTP's; the WebSocket has its own close handling.
                        sync.removeHandler(try sync.handler(type: ConnectionStateHandler.self), promise: nil)
                        sync.removeHandler(try sync.handler(type: RequestDecoderGuard.self), promise: nil)
                        try sync.addHandler(
                            NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 0,
                                maxAccumulatedFrameCount: maxFragments,
                                maxAccumulatedFrameSize: maxMessage
                            )
                        )
                        try sync.addHandler(WebSocketControlHandler(closeTimeout: closeTimeout, pingInterval: pingInterval))
                        return UpgradeResult.websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                    }
                }
            )
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration<UpgradeResult>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        UpgradeResult.http(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                    }
                }
            )
            var pipelineConfiguration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgradeConfiguration)
            // The async loop serves pipelined requests in order, answers parse errors itself (431 or
            // 400) and checks response headers as it converts them.
            pipelineConfiguration.enablePipelining = false
            pipelineConfiguration.enableErrorHandling = false
            pipelineConfiguration.enableResponseHeaderValidation = false
            pipelineConfiguration.decoderConfiguration.maxHeaderListSize = configuration.maxHeaderBytes
            pipelineConfiguration.decoderConfiguration.maxHeaderFieldSize = configuration.maxHeaderBytes
            pipelineConfiguration.decoderConfiguration.maxHeaderFieldCount = configuration.maxHeaderCount

            let sync = channel.pipeline.syncOperations
            let upgrade = try sync.configureUpgradableHTTPServerPipeline(configuration: pipelineConfiguration)
            let upgradeHandler = try sync.handler(type: NIOTypedHTTPServerUpgradeHandler<UpgradeResult>.self)
            try sync.addHandler(stateHandler, position: .before(upgradeHandler))
            try sync.addHandler(decoderGuard, position: .first)
            handshake.watch(upgrade)
            return AcceptedConnection(channel: channel, upgrade: upgrade, handshake: handshake, admitted: admitted)
        }
    }
}
