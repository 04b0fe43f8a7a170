@_spi(ASGIFrontend) public import ASGI
import Hummingbird
public import HummingbirdCore
public import HummingbirdWebSocket

/// An ASGI application that answers the WebSocket handshakes for a path and everything below it,
/// served by a Hummingbird application built with
/// `HTTPServerBuilder.http1WebSocketUpgrade(mounting:configuration:maxMessageBytes:)`.
///
/// ```swift
/// let lifespan = ASGILifespan(chat)
/// let router = Router()
/// router.mount("/chat", chat, lifespan: lifespan)              // HTTP requests
/// var app = Application(
///     router: router,
///     server: .http1WebSocketUpgrade(mounting: [ASGIWebSocketMount("/chat", chat, lifespan: lifespan)])
/// )
/// app.addLifespan(lifespan)
/// ```
///
/// The scope is built by the package's one rule, as for HTTP requests: `root_path` is the mount
/// point, `path` and `raw_path` the request's own, `subprotocols` from `Sec-WebSocket-Protocol`,
/// `client` and `server` the connection's addresses, `state` the lifespan's; the scope announces the
/// `websocket.http.response` extension.
public struct ASGIWebSocketMount: Sendable {
    /// Where the application is mounted: the whole path from the server's root (a router group's
    /// prefix included).
    public let path: String
    /// The application.
    public let application: any ASGIApplication
    /// The lifespan whose state the scopes carry.
    public let lifespan: ASGILifespan?

    /// Mounts `application` at `path`.
    public init(_ path: String, _ application: any ASGIApplication, lifespan: ASGILifespan? = nil) {
        self.path = RootPath.normalized(path)
        self.application = application
        self.lifespan = lifespan
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with WebSocket upgrades answered by mounted ASGI applications.
    ///
    /// A handshake under a mount's path (the longest that matches) reaches its application as a
    /// `websocket` scope; the upgrade happens when the application sends `websocket.accept`, and
    /// `websocket.close` before that answers 403, and `websocket.http.response.*` (the extension)
    /// answers with the application's own response. An application that fails, or returns without
    /// answering, gets a 500 before the upgrade and a 1011 close after it. The peer's close code
    /// reaches `websocket.disconnect` (1006 when the connection broke without a close frame); a
    /// peer's close code no endpoint may send is answered with 1002, and an application's is an
    /// error from `send` (the package's `WebSocketCloseCode` rule, as on its HTTP server). On the
    /// server's graceful shutdown open WebSockets are closed with 1001 (going away). A handshake
    /// whose path has a dot-segment (`/ws/../x`) gets 400 before any application sees it; one no
    /// mount takes is refused as Hummingbird refuses it (400). Every other request goes to the router.
    ///
    /// - Parameters:
    ///   - mounts: The applications and where they answer.
    ///   - configuration: Hummingbird's HTTP/1.1 and WebSocket settings; by default frames as large
    ///     as `maxMessageBytes` and the package's close timeout.
    ///   - maxMessageBytes: The largest message an application receives (all its frames): a larger
    ///     one closes the connection with 1009.
    public static func http1WebSocketUpgrade(
        mounting mounts: [ASGIWebSocketMount],
        configuration: HTTP1WebSocketUpgradeChannel.Configuration = .init(
            ws: .init(maxFrameSize: ServerDefaults.maxWebSocketMessageBytes, closeTimeout: ServerDefaults.webSocketCloseTimeout)
        ),
        maxMessageBytes: Int = ServerDefaults.maxWebSocketMessageBytes
    ) -> HTTPServerBuilder {
        let upgrade = WebSocketUpgrade(mounts: mounts, maxMessageBytes: maxMessageBytes)
        return .http1WebSocketUpgrade(configuration: configuration) { request, channel, logger in
            await upgrade.shouldUpgrade(request, channel: channel, logger: logger)
        }
    }
}
