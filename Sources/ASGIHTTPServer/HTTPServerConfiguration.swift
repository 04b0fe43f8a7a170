public import ASGI

/// How an ``ASGIHTTPServer`` listens, what it accepts, and how it stops.
///
/// Every limit has a safe default; change only what you need:
///
/// ```swift
/// var configuration = HTTPServerConfiguration(port: 0)   // 0: an ephemeral port
/// configuration.maxRequestBodyBytes = 10 << 20
/// configuration.rootPath = "/api"
/// ```
public struct HTTPServerConfiguration: Sendable {
    /// Whether the server runs the application's `lifespan` scope around serving.
    public typealias LifespanMode = ASGI.LifespanMode

    /// The address to bind: an IP address or a host name. Default `127.0.0.1`.
    public var host: String
    /// The TCP port; `0` picks an ephemeral port (see ``ASGIHTTPServer/listeningAddress``). Default 8080.
    public var port: Int
    /// An already-bound listening socket to serve on instead of binding ``host``:``port`` (which
    /// are then unused). Default `nil`: bind ``host``:``port``.
    public var listeningSocket: ListeningSocket? = nil
    /// The listen backlog. Default `ServerDefaults.backlog`.
    public var backlog: Int
    /// Largest request head (request line and all header lines): a larger one gets 431. Default 64 KiB.
    public var maxHeaderBytes: Int
    /// Most header fields in one request: more get 431. Default 100.
    public var maxHeaderCount: Int
    /// Largest request body: a larger one gets 413 (at once when `Content-Length` says so, else as
    /// soon as it grows past the limit, and the application's `receive()` then returns
    /// `http.disconnect`). `nil`: no limit. Default `ServerDefaults.maxRequestBodyBytes`.
    public var maxRequestBodyBytes: Int?
    /// How long a keep-alive connection may wait for its next request before the server closes it.
    /// Default `ServerDefaults.idleTimeout`.
    public var idleTimeout: Duration
    /// How long a client may take none of the bytes of a response the server has finished writing
    /// before the connection is closed: a slow reader is never cut off while it reads (the idle
    /// timeout starts only once the last bytes reached the socket), one that stops reading
    /// altogether is. `nil`: no limit. Default `ServerDefaults.sendTimeout`.
    public var sendTimeout: Duration? = ServerDefaults.sendTimeout
    /// The longest the server waits for the next bytes of a request body the application is
    /// reading: past it the request gets 408 (or, once its response has started, the connection
    /// closes) and the application's `receive()` returns `http.disconnect`. `nil`: no limit.
    /// Default `ServerDefaults.readTimeout`.
    public var bodyReadTimeout: Duration?
    /// The slowest a client may send a request body, measured over the time the server waits for
    /// it (the application's own work does not count): a slower upload is cut off as by
    /// ``bodyReadTimeout``. `nil`: no minimum. Default `ServerDefaults.minimumBodyDataRate`
    /// (240 bytes per second after 5 seconds).
    ///
    /// With both, a client that trickles a few bytes and stalls cannot hold a request (nor, for a
    /// `WSGIToASGI` application reading a body larger than its prefetch, a blocking thread) for
    /// longer than these bounds.
    public var minimumBodyDataRate: MinimumDataRate?
    /// Most open connections; past it a connection's requests get 503 and it is closed. `nil`: no
    /// limit. Default `nil`.
    public var maxConcurrentConnections: Int?
    /// Most requests (and WebSocket sessions) being served at once; past it a request gets 503.
    /// `nil`: no limit. Default `nil`.
    public var maxConcurrentRequests: Int?
    /// How long a graceful shutdown lets in-flight requests run before it cancels them and closes
    /// their connections. Default `ServerDefaults.gracefulShutdownTimeout`.
    public var gracefulShutdownTimeout: Duration
    /// Where the application is mounted (the WSGI `SCRIPT_NAME`): every scope's `root_path`; its
    /// `path` and `raw_path` are this prefix plus the request's own path (as uvicorn's `--root-path`).
    /// Default `""`.
    public var rootPath: String
    /// Whether to run the lifespan scope. Default `LifespanMode.auto`.
    public var lifespan: LifespanMode
    /// Largest WebSocket message (after reassembling fragments): a larger one closes the
    /// connection with 1009. Default 16 MiB (uvicorn's default).
    public var maxWebSocketMessageBytes: Int
    /// How long the server waits for the peer's answer to a WebSocket close frame before it drops
    /// the connection. Default 5 seconds.
    public var webSocketCloseTimeout: Duration
    /// Most requests one keep-alive connection may carry; the last one's response says
    /// `Connection: close` (nginx's `keepalive_requests`), so a client cannot keep one connection,
    /// and what it holds, for ever. `nil`: no limit. Default
    /// `ServerDefaults.maxRequestsPerConnection`.
    public var maxRequestsPerConnection: Int? = ServerDefaults.maxRequestsPerConnection
    /// Most frames one WebSocket message may arrive in; past it the connection closes with 1009.
    /// Default `ServerDefaults.maxWebSocketFragments`.
    public var maxWebSocketFragments = ServerDefaults.maxWebSocketFragments
    /// How often the server pings a WebSocket peer that sent nothing since the last ping; a peer
    /// that stays silent for a whole interval after a ping is closed with 1011. `nil`: no pings
    /// and no idle close. Default `ServerDefaults.webSocketPingInterval`.
    public var webSocketPingInterval: Duration? = ServerDefaults.webSocketPingInterval
    /// Log one line per request (at `info`, as uvicorn's access log). Default `true`.
    public var accessLog: Bool
    /// The `server` response header value; `nil` sends none. Default `nil`.
    public var serverHeader: String?
    /// Names and dimensions of the swift-metrics the server records.
    public var metrics: HTTPServerMetricsConfiguration
    /// Run each connection's task, the application's code included, on the SwiftNIO event loop
    /// that serves the connection, as uvicorn runs an application on its asyncio loop (and Vapor
    /// its handlers on their channel's loop). Default `true`.
    ///
    /// A request then needs no thread wake-up between the socket and the application: in
    /// `bench/http_hello.sh` a plain ASGI hello answers ~10% more requests per second than on
    /// Swift's pool, and `WSGIToASGI`'s output comes back to the loop that writes it. The price:
    /// a connection stays on its loop, so a long computation in async application code delays the
    /// other connections of that loop (on Swift's pool another thread could take them), and a
    /// blocking NIO call (`EventLoopFuture.wait()`) traps. Blocking work belongs on a blocking
    /// pool either way (`SyncToAsync`, `WSGIToASGI`). Set `false` to run connection tasks on
    /// Swift's global cooperative pool, as Hummingbird does.
    public var runsOnEventLoops: Bool
    /// Holds accepting from a handed ``listeningSocket`` while its work is under way, so that the
    /// other processes sharing the socket take the new connections (the `Gateway` runner's
    /// workers pause while their blocking threads are all busy). `nil`: always accept.
    package var acceptPause: AcceptPause? = nil

    /// Creates a configuration; every parameter has a safe default.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        backlog: Int = ServerDefaults.backlog,
        maxHeaderBytes: Int = 64 * 1024,
        maxHeaderCount: Int = 100,
        maxRequestBodyBytes: Int? = ServerDefaults.maxRequestBodyBytes,
        idleTimeout: Duration = ServerDefaults.idleTimeout,
        bodyReadTimeout: Duration? = ServerDefaults.readTimeout,
        minimumBodyDataRate: MinimumDataRate? = ServerDefaults.minimumBodyDataRate,
        maxConcurrentConnections: Int? = nil,
        maxConcurrentRequests: Int? = nil,
        gracefulShutdownTimeout: Duration = ServerDefaults.gracefulShutdownTimeout,
        rootPath: String = "",
        lifespan: LifespanMode = .auto,
        maxWebSocketMessageBytes: Int = ServerDefaults.maxWebSocketMessageBytes,
        webSocketCloseTimeout: Duration = ServerDefaults.webSocketCloseTimeout,
        accessLog: Bool = true,
        serverHeader: String? = nil,
        metrics: HTTPServerMetricsConfiguration = HTTPServerMetricsConfiguration(),
        runsOnEventLoops: Bool = true
    ) {
        self.host = host
        self.port = port
        self.backlog = backlog
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.idleTimeout = idleTimeout
        self.bodyReadTimeout = bodyReadTimeout
        self.minimumBodyDataRate = minimumBodyDataRate
        self.maxConcurrentConnections = maxConcurrentConnections
        self.maxConcurrentRequests = maxConcurrentRequests
        self.gracefulShutdownTimeout = gracefulShutdownTimeout
        self.rootPath = rootPath
        self.lifespan = lifespan
        self.maxWebSocketMessageBytes = maxWebSocketMessageBytes
        self.webSocketCloseTimeout = webSocketCloseTimeout
        self.accessLog = accessLog
        self.serverHeader = serverHeader
        self.metrics = metrics
        self.runsOnEventLoops = runsOnEventLoops
    }
}
