@_spi(ASGIFrontend) import ASGI
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization

extension ServerContext {
    /// Serves one accepted connection until it closes. Cancelling the task (the server stopping)
    /// closes an idle connection at once; one with a request in flight once that request has been
    /// answered (its application is cancelled, and a request not answered yet gets 503).
    func handle(_ accepted: AcceptedConnection) async {
        let channel = accepted.channel
        let serving = Mutex<HTTPConnection?>(nil)
        await withTaskCancellationHandler {
            do {
                switch try await accepted.handshake.event.get() {
                case .settled:
                    guard case .http(let http) = try await accepted.upgrade.get() else {
                        channel.close(promise: nil)
                        return
                    }
                    try await http.executeThenClose { inbound, _ in
                        let connection = HTTPConnection(server: self, channel: channel, inbound: inbound, admitted: accepted.admitted)
                        channel.closeFuture.whenComplete { _ in connection.channelClosed() }
                        serving.withLock { $0 = connection }
                        await connection.serve()
                    }
                case .handshake(let head, let answer):
                    try await serveWebSocket(head: head, answer: answer, accepted: accepted)
                }
            } catch {
                logger.trace("Connection ended: \(String(describing: error))")
                channel.close(promise: nil)
            }
        } onCancel: {
            // The cancelled request answers and the connection's loop then ends (its reads see
            // the cancellation); closing now would cut that answer off.
            if serving.withLock({ $0 })?.hasRequestInFlight == true { return }
            channel.close(promise: nil)
        }
    }

    /// A WebSocket handshake: the application decides, in a child task, while this task completes
    /// the handshake (or the denial) and then keeps the connection open until the application is done.
    private func serveWebSocket(head: HTTPRequestHead, answer: EventLoopPromise<HTTPHeaders?>, accepted: AcceptedConnection) async throws {
        let started = ContinuousClock.now
        let id = RequestID()
        let request = RequestHead(head)
        let client = accepted.channel.remoteAddress.flatMap(ASGIAddress.init(_:))

        var asgiHead = request.asgiHead(head, rootPath: rootPath, client: client, server: accepted.channel.localAddress.flatMap(ASGIAddress.init(_:)))
        do {
            try asgiHead.applyRequestRules()
        } catch {
            logger.notice("Refused a WebSocket handshake: \(error.message)")
            try await refuseHandshake(error.response, head: head, answer: answer, accepted: accepted)
            webSocketAccessLog(id: id, client: client, head: head, status: error.response.status, started: started)
            return
        }
        guard accepted.admitted, admitRequest() else {
            logger.warning("Connection or concurrency limit reached; answered 503 to a WebSocket handshake.")
            try await refuseHandshake(.serviceUnavailable, head: head, answer: answer, accepted: accepted)
            webSocketAccessLog(id: id, client: client, head: head, status: 503, started: started)
            return
        }
        defer { requestDone() }

        let scope = asgiHead.webSocketScope(state: stateSnapshot, extensions: ServerContext.webSocketExtensions)
        let session = WebSocketSession(server: self, head: head, answer: answer, allocator: accepted.channel.allocator)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await session.runApplication(scope: scope) }
            do {
                switch try await accepted.upgrade.get() {
                case .websocket(let websocket):
                    try await websocket.executeThenClose { inbound, _ in
                        session.attach(inbound: inbound, channel: websocket.channel)
                        await session.applicationDone.wait()
                        await session.finishOpen(channel: websocket.channel)
                    }
                case .http(let http):
                    try await http.executeThenClose { _, outbound in
                        session.attach(denial: outbound)
                        await session.applicationDone.wait()
                        await session.finishDenial(channel: http.channel)
                    }
                }
            } catch {
                session.connectionFailed()
            }
            await group.waitForAll()
        }
        let status = session.accepted ? 101 : session.denialStatus
        metrics.webSocketEnded(accepted: session.accepted, status: status, nanoseconds: (ContinuousClock.now - started).nanoseconds)
        webSocketAccessLog(id: id, client: client, head: head, status: status, started: started)
    }

    /// Refuses a handshake without calling the application: `response`, then the connection closes.
    private func refuseHandshake(
        _ response: PlainResponse,
        head: HTTPRequestHead,
        answer: EventLoopPromise<HTTPHeaders?>,
        accepted: AcceptedConnection
    ) async throws {
        answer.succeed(nil)
        if case .http(let http) = try await accepted.upgrade.get() {
            try await http.executeThenClose { _, outbound in
                let parts = ResponseHead.plain(response, version: head.version, close: true, serverHeader: configuration.serverHeader)
                try? await outbound.write(contentsOf: parts)
                try? await http.channel.close(mode: .output).get()
            }
        }
    }

    private func webSocketAccessLog(id: RequestID, client: ASGIAddress?, head: HTTPRequestHead, status: Int, started: ContinuousClock.Instant) {
        logAccess(id: id, head: head, client: client, status: status, bytes: nil, duration: ContinuousClock.now - started, aborted: false)
    }
}
