@_spi(ASGIFrontend) public import ASGI
import Glibc

/// How a ``FastCGIServer`` listens, how many requests it serves at once, and its limits.
///
/// Every limit has a safe default; a `nil` limit means "none".
///
/// ```swift
/// var configuration = FastCGIConfiguration(bind: .unix(path: "/run/app/fcgi.sock", mode: 0o660))
/// configuration.workerThreads = 8
/// configuration.maxRequestBodyBytes = 10 << 20
/// configuration.statusPath = "/fcgi-status"
/// configuration.pingPath = "/fcgi-ping"
/// ```
public struct FastCGIConfiguration: Sendable {
    /// Where the server listens.
    public enum Bind: Sendable, Hashable, CustomStringConvertible {
        /// A unix stream socket at `path`, with permission bits `mode` (for example `0o660`, so
        /// that nginx's group can connect).
        ///
        /// A stale socket file left by a server that died is replaced; a live one (a server answers
        /// on it) or a file that is not a socket is never touched: starting fails instead. The
        /// socket is created under a temporary name, given its mode, then renamed into place, so it
        /// never exists with other permissions. It is removed when the server stops, unless another
        /// server has replaced it meanwhile.
        case unix(path: String, mode: UInt16 = 0o660)
        /// A TCP address. Use `"127.0.0.1"` (or a private address) rather than all interfaces:
        /// FastCGI has no authentication. Port 0 is not supported: the web server needs to know it.
        case tcp(host: String, port: Int)
        /// The listening socket the process inherited on file descriptor 0
        /// (`FCGI_LISTENSOCK_FILENO`), as `spawn-fcgi` and systemd (`StandardInput=socket`) pass it.
        /// On shutdown the server stops using it but does not shut it down, so systemd can hand it to
        /// the next instance.
        case inherited

        /// The address as the command line and logs write it: `unix:PATH`, `HOST:PORT` or `stdin`.
        public var description: String {
            switch self {
            case .unix(let path, _): return "unix:\(path)"
            case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .inherited: return "stdin"
            }
        }

        /// Parses `unix:PATH`, `HOST:PORT` (`[IPv6]:PORT`) or `stdin`; `nil` if it is none of them.
        ///
        /// ```swift
        /// FastCGIConfiguration.Bind("unix:/run/app.sock")   // .unix(path: "/run/app.sock", mode: 0o660)
        /// FastCGIConfiguration.Bind("127.0.0.1:9000")       // .tcp(host: "127.0.0.1", port: 9000)
        /// ```
        public init?(_ text: String, mode: UInt16 = 0o660) {
            if text == "stdin" || text == "fd:0" {
                self = .inherited
            } else if text.hasPrefix("unix:") {
                let path = String(text.dropFirst(5))
                guard !path.isEmpty else { return nil }
                self = .unix(path: path, mode: mode)
            } else if let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                (1...65535).contains(port)
            {
                var host = String(text[..<colon])
                if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                guard !host.isEmpty else { return nil }
                self = .tcp(host: host, port: port)
            } else {
                return nil
            }
        }
    }

    /// Where the server listens.
    public var bind: Bind
    /// Worker threads: plain threads, each serving one request at a time.
    ///
    /// Requests beyond this number wait: on a new connection in the listen backlog, on a kept
    /// (`fastcgi_keep_conn`) connection until a worker is free. An idle kept connection holds no
    /// worker (the workers wait for new connections and for requests on kept ones in one epoll
    /// set), so nginx's upstream `keepalive` need not stay below this number.
    public var workerThreads: Int
    /// The listen backlog: connections the kernel queues before they are accepted (the bounded
    /// accept queue). Past it, new connections are refused and nginx answers 502 or tries the next
    /// upstream server.
    public var backlog: Int
    /// Largest request body accepted: a larger declared `CONTENT_LENGTH` gets 413 before the
    /// application runs; a body without a length fails the application's read past it (413 if the
    /// response has not started). `nil`: no limit.
    public var maxRequestBodyBytes: Int?
    /// Largest total size of the FastCGI parameters (names and values) of one request; past it the
    /// request gets 431. libfcgi has read them by then; this bounds what the application sees.
    public var maxParamsBytes: Int
    /// Most FastCGI parameters one request may carry; past it the request gets 431.
    public var maxParamsCount: Int
    /// Most values one environ variable may receive from repeated headers (400 past it); `nil`: no limit.
    public var duplicateHeaderLimit: Int?
    /// Wall-clock limit of one request. When it passes, the client gets 504 if the response has not
    /// started (else the connection is cut), a line is logged, and the application's next read or
    /// write fails as if the client had gone. The worker is free once the handler returns.
    /// `nil`: no limit.
    public var requestTimeout: Duration?
    /// Longest wait for a single read from the web server (a new connection's request head, or the
    /// next piece of a request body) before the request is given up.
    public var readTimeout: Duration
    /// After a graceful shutdown starts, how long in-flight requests may run before their
    /// connections are cut. The server returns once the handlers have returned (or, for handlers
    /// that never return, one more second later).
    public var gracefulShutdownTimeout: Duration
    /// Requests running longer than this are logged (once, while still running) and counted as slow.
    /// `nil`: no slow-request log.
    public var slowRequestThreshold: Duration?
    /// The request path (`SCRIPT_NAME` + `PATH_INFO`, without the query) that answers with the
    /// server's status (text; `?json` for JSON) instead of reaching the application. `nil`: off.
    public var statusPath: String?
    /// The request path that answers ``pingResponse`` instead of reaching the application. `nil`: off.
    public var pingPath: String?
    /// The body of the ping answer.
    public var pingResponse: String
    /// Where the application is mounted, when nginx passes no `PATH_INFO`: requests whose path
    /// starts with it get it as `SCRIPT_NAME` (the ASGI `root_path`) and the rest as `PATH_INFO`.
    /// When nginx sends `PATH_INFO` (`fastcgi_split_path_info`), its `SCRIPT_NAME`/`PATH_INFO` win.
    public var rootPath: String?
    /// Peer addresses allowed to connect over TCP (libfcgi's `FCGI_WEB_SERVER_ADDRS`, PHP-FPM's
    /// `listen.allowed_clients`); empty: any.
    public var allowedClients: [String]
    /// Log one line per request (at `info` level) through the server's logger.
    public var accessLog: Bool
    /// Whether to run the application's lifespan around serving (startup before the first accept,
    /// shutdown after the last request).
    public var lifespan: LifespanMode
    /// The group a ``Bind/unix(path:mode:)`` socket file gets: a group name (`"www-data"`) or a
    /// numeric id. With mode `0o660` it lets a web server running as another user in, as PHP-FPM's
    /// `listen.group` does. The group is set before the socket is moved into place, so the socket
    /// never exists at its path with another group. The server must be root or a member of the
    /// group. `nil`: the server's own group. Only for unix sockets.
    public var socketGroup: String? = nil

    /// Creates a configuration; every parameter has a safe default.
    /// - Parameters:
    ///   - bind: where to listen.
    ///   - workerThreads: requests served at once (default: 4 × the CPU count, at least 4).
    ///   - backlog: the listen backlog (default `ServerDefaults.backlog`).
    ///   - maxRequestBodyBytes: default `ServerDefaults.maxRequestBodyBytes`.
    ///   - maxParamsBytes: default 128 KiB.
    ///   - maxParamsCount: default 512.
    ///   - duplicateHeaderLimit: default `ServerDefaults.duplicateHeaderLimit`.
    ///   - requestTimeout: default `ServerDefaults.requestTimeout`.
    ///   - readTimeout: default `ServerDefaults.readTimeout`.
    ///   - gracefulShutdownTimeout: default `ServerDefaults.gracefulShutdownTimeout`.
    ///   - slowRequestThreshold: default 5 seconds.
    ///   - statusPath: default off.
    ///   - pingPath: default off.
    ///   - pingResponse: default `"pong"`.
    ///   - rootPath: default none.
    ///   - allowedClients: default any.
    ///   - accessLog: default on.
    ///   - lifespan: default `LifespanMode.auto`.
    public init(
        bind: Bind,
        workerThreads: Int? = nil,
        backlog: Int = ServerDefaults.backlog,
        maxRequestBodyBytes: Int? = ServerDefaults.maxRequestBodyBytes,
        maxParamsBytes: Int = 128 * 1024,
        maxParamsCount: Int = 512,
        duplicateHeaderLimit: Int? = ServerDefaults.duplicateHeaderLimit,
        requestTimeout: Duration? = ServerDefaults.requestTimeout,
        readTimeout: Duration = ServerDefaults.readTimeout,
        gracefulShutdownTimeout: Duration = ServerDefaults.gracefulShutdownTimeout,
        slowRequestThreshold: Duration? = .seconds(5),
        statusPath: String? = nil,
        pingPath: String? = nil,
        pingResponse: String = "pong",
        rootPath: String? = nil,
        allowedClients: [String] = [],
        accessLog: Bool = true,
        lifespan: LifespanMode = .auto
    ) {
        self.bind = bind
        self.workerThreads = workerThreads ?? max(4, 4 * Self.processorCount())
        self.backlog = backlog
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxParamsBytes = maxParamsBytes
        self.maxParamsCount = maxParamsCount
        self.duplicateHeaderLimit = duplicateHeaderLimit
        self.requestTimeout = requestTimeout
        self.readTimeout = readTimeout
        self.gracefulShutdownTimeout = gracefulShutdownTimeout
        self.slowRequestThreshold = slowRequestThreshold
        self.statusPath = statusPath
        self.pingPath = pingPath
        self.pingResponse = pingResponse
        self.rootPath = rootPath
        self.allowedClients = allowedClients
        self.accessLog = accessLog
        self.lifespan = lifespan
    }

    /// Checks the values that cannot work.
    func validate() throws {
        func fail(_ message: String) -> FastCGIError { FastCGIError(.invalidConfiguration, message) }
        guard workerThreads >= 1 else { throw fail("workerThreads must be at least 1 (got \(workerThreads)).") }
        guard backlog >= 1 else { throw fail("backlog must be at least 1 (got \(backlog)).") }
        if let limit = maxRequestBodyBytes, limit < 0 { throw fail("maxRequestBodyBytes must not be negative.") }
        guard maxParamsBytes > 0, maxParamsCount > 0 else { throw fail("maxParamsBytes and maxParamsCount must be positive.") }
        guard readTimeout > .zero else { throw fail("readTimeout must be positive.") }
        if let timeout = requestTimeout, timeout <= .zero { throw fail("requestTimeout must be positive (or nil for none).") }
        if case .tcp(_, let port) = bind, !(1...65535).contains(port) {
            throw fail("The TCP port must be between 1 and 65535 (got \(port)).")
        }
        if case .unix(let path, _) = bind, path.utf8.count >= 108 {
            throw fail("The unix socket path is longer than the 107 bytes a socket address holds: \(path)")
        }
        if let socketGroup {
            guard case .unix = bind else {
                throw fail("socketGroup applies to a unix socket bind only (the bind is \(bind)).")
            }
            _ = try UnixSocketPermissions.groupID(socketGroup)
        }
        for path in [statusPath, pingPath, rootPath].compactMap({ $0 }) where !path.hasPrefix("/") {
            throw fail("statusPath, pingPath and rootPath must start with '/' (got '\(path)').")
        }
    }

    private static func processorCount() -> Int {
        let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return count > 0 ? count : 1
    }
}
