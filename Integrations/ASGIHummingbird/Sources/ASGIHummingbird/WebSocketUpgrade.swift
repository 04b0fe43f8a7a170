@_spi(ASGIFrontend) import ASGI
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

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
        let scope = ASGIRequestHead(
            method: request.method.rawValue,
            httpVersion: "1.1",
            scheme: request.scheme ?? "http",
            target: target,
            rootPath: RootPath.of(path: target.path, mountPoint: mount.path),
            headers: request.asgiHeaders,
            client: channel.remoteAddress.map(ASGIAddress.init(socketAddress:)),
            server: channel.localAddress.map(ASGIAddress.init(socketAddress:))
        ).webSocketScope(state: mount.lifespan?.requestState, extensions: [:])

        let exchange = WebSocketExchange(logger: logger, maxMessageBytes: maxMessageBytes, target: targetText)
        channel.closeFuture.whenComplete { _ in exchange.connectionClosed() }
        let application = mount.application
        // The application outlives this decision: an accepted connection's handler waits for it.
        Task { await exchange.runApplication(application, scope: scope) }

        switch await exchange.answer() {
        case .accept(let fields):
            return .upgrade(fields) { inbound, outbound, _ in
                await CloseFrameObserver.install(on: channel) { code, reason in
                    exchange.peerClosed(code: code, reason: reason)
                }
                try await exchange.serve(inbound: inbound, outbound: outbound)
            }
        case .deny(let response):
            await Self.write(response, on: channel)
            return .dontUpgrade
        case .gone:
            return .dontUpgrade
        }
    }

    /// Writes a refusal on the handshake's connection and closes its output: Hummingbird's own
    /// answer to a handshake it does not upgrade (400) then finds the output closed and is dropped.
    static func write(_ response: PlainResponse, on channel: any Channel) async {
        var headers = HTTPHeaders()
        for header in response.headers { headers.add(name: header.nameString, value: header.valueString) }
        headers.replaceOrAdd(name: "connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        let body = ByteBuffer(bytes: response.body)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil)
        try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        try? await channel.close(mode: .output).get()
    }
}
