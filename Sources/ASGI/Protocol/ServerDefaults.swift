/// The defaults every frontend of the package shares, defined once: wherever the same knob exists
/// (``WSGIToASGI``, the HTTP server, the FastCGI server, the runner), it starts from the same value.
public enum ServerDefaults {
    /// Largest request body accepted: 100 MiB (413 past it).
    public static let maxRequestBodyBytes: Int? = 100 * 1024 * 1024
    /// The listen backlog: 511, as nginx and PHP-FPM.
    public static let backlog = 511
    /// Most values one environ variable may receive from repeated headers: 100 (400 past it), the
    /// guard asgiref added against CVE-2025-14550.
    public static let duplicateHeaderLimit: Int? = 100
    /// Wall-clock limit of one request where a server enforces one: 60 seconds.
    public static let requestTimeout: Duration = .seconds(60)
    /// How long a graceful shutdown lets in-flight requests run: 30 seconds.
    public static let gracefulShutdownTimeout: Duration = .seconds(30)
    /// How long a server waits for the next bytes of a request it is reading: 60 seconds (nginx's
    /// `fastcgi_send_timeout`; the HTTP server's body read timeout, 408 past it).
    public static let readTimeout: Duration = .seconds(60)
    /// How long a client may take none of the response bytes queued for it before the server
    /// closes the connection: 60 seconds (nginx's `send_timeout`). A slow reader is never cut off
    /// while it reads; one that stops reading altogether is.
    public static let sendTimeout: Duration = .seconds(60)
    /// How long a kept-alive HTTP connection may wait for its next request: 5 seconds (uvicorn's).
    public static let idleTimeout: Duration = .seconds(5)
    /// The slowest a client may send a request body once it has started: 240 bytes per second after
    /// a 5-second grace period (Kestrel's `MinRequestBodyDataRate`).
    public static let minimumBodyDataRate: MinimumDataRate? = MinimumDataRate(bytesPerSecond: 240, gracePeriod: .seconds(5))
    /// How much of a request body ``WSGIToASGI`` reads before it takes a blocking thread: 64 KiB
    /// (or the whole body when it is smaller), so a slow uploader waits on the event loop, not on a
    /// thread; a larger body streams to the application as it reads.
    public static let bodyPrefetchBytes = 64 * 1024
    /// The longest a server goes on reading and dropping what a client sends after its answer
    /// before closing (a refused body, requests it will not serve): 30 seconds (nginx's
    /// `lingering_time`).
    public static let lingerTime: Duration = .seconds(30)
    /// Size of the pieces a server reads a request body or a file in: 64 KiB.
    public static let chunkSize = 64 * 1024
    /// Largest WebSocket message (all its frames together) a server accepts: 16 MiB (closed with
    /// 1009 past it).
    public static let maxWebSocketMessageBytes = 16 * 1024 * 1024
    /// How long a server waits for the peer's answer to its WebSocket close frame: 5 seconds.
    public static let webSocketCloseTimeout: Duration = .seconds(5)
    /// Most requests one keep-alive connection may carry: 1,000 (nginx's `keepalive_requests`).
    public static let maxRequestsPerConnection = 1000
    /// Most frames one WebSocket message may arrive in: 4,096 (closed with 1009 past it). Every
    /// frame held until the message completes costs memory, whatever its size.
    public static let maxWebSocketFragments = 4096
    /// How often a server pings a WebSocket peer that sent nothing since the last ping: every 20
    /// seconds, and a peer silent for a whole interval after a ping is closed (uvicorn's
    /// `ws_ping_interval` and `ws_ping_timeout`).
    public static let webSocketPingInterval: Duration = .seconds(20)
}
