@_spi(ASGIFrontend) import ASGI
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore

/// Hummingbird's upgrade decision for WebSocket handshakes, made by the mounted ASGI application.
struct WebSocketUpgrade: Sendable {
    typealias Handler = WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>

    /// The mounts, longest path first.
    let mounts: [ASGIWebSocketMount]
    let maxMessageBytes: Int

    init(mounts: [ASGIWebSocketMount], maxMessageBytes: Int) {
        self.mounts = mounts.sorted { $0.path.utf8.count > $1.path.utf8.count }
        self.maxMessageBytes = maxMessageBytes
    }

    /// Starts the application for a handshake under one of the mounts and waits for its answer:
    /// the upgrade with its headers, or its refusal written on `channel` before Hummingbird's own.
    func shouldUpgrade(_ request: HTTPRequest, channel: any Channel, logger: Logger) async -> ShouldUpgradeResult<Handler> {
        let targetText = request.path ?? "/"
        let target = RequestTarget(targetText)
        let rawPath = String(decoding: target.rawPath, as: UTF8.self)
        guard let mount = mounts.first(where: { RootPath.contains(rawPath, under: $0.path) }) else {
            return .dontUpgrade
        }
        // Before any application sees it: `/ws/../admin` names no path under `/ws`.
        if let problem = target.pathProblem {
            logger.notice("Refused a WebSocket handshake: \(problem.message)")
            await WebSocketDenial.write(problem.response, on: channel)
            return .dontUpgrade
        }
        let scope = ASGIRequestHead(
            method: request.method.rawValue,
            httpVersion: "1.1",
            scheme: request.scheme ?? "http",
            target: target,
            rootPath: RootPath.of(path: target.path, mountPoint: mount.path),
            headers: request.asgiHeaders,
            client: channel.remoteAddress.map(ASGIAddress.init(socketAddress:)),
            server: channel.localAddress.map(ASGIAddress.init(socketAddress:))
        ).webSocketScope(state: mount.lifespan?.requestState, extensions: [ServerExtension.webSocketHTTPResponse: [:]])

        let exchange = WebSocketExchange(logger: logger, maxMessageBytes: maxMessageBytes, target: targetText)
        channel.closeFuture.whenComplete { _ in exchange.connectionClosed() }
        let application = mount.application
        // The application outlives this decision: an accepted connection's handler waits for it.
        Task { await exchange.runApplication(application, scope: scope) }

        switch await exchange.answer() {
        case .accept(let fields):
            return .upgrade(fields) { inbound, outbound, _ in
                await CloseFrameObserver.install(
                    on: channel,
                    noted: { code, reason in exchange.peerClosed(code: code, reason: reason) },
                    isShutdownClose: { exchange.isShutdownClose }
                )
                try await exchange.serve(inbound: inbound, outbound: outbound)
            }
        case .deny(let response):
            await WebSocketDenial.write(response, on: channel)
            return .dontUpgrade
        case .respond(let status, let headers):
            await WebSocketDenial.writeResponse(status: status, headers: headers, from: exchange, on: channel, logger: logger)
            return .dontUpgrade
        case .gone:
            return .dontUpgrade
        }
    }
}
