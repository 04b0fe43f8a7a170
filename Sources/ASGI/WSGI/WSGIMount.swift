/// A WSGI-style application mounted under a path in front of an ASGI application that serves
/// everything else, each half served natively by either kind of frontend: the shape of an
/// application in the middle of a migration (legacy pages under `/legacy`, new async routes
/// beside them), like werkzeug's `DispatcherMiddleware`.
///
/// - **Async frontends** (the HTTP server, the Hummingbird mount): an HTTP request whose path
///   (below the scope's `root_path`) is `path` or continues it with `/` goes to `legacy` with
///   `root_path` extended by `path`, so the legacy application sees `SCRIPT_NAME` `/legacy` and
///   `PATH_INFO` the rest. Every other scope (other paths, WebSocket,
///   lifespan) goes to `application`.
/// - **Blocking frontends** (``ASGIToWSGI``, which the FastCGI server's workers run every ASGI
///   application through): when the mount is the application the frontend serves, a request
///   under `path` is handed to the WSGI-style application itself, on the frontend's thread, with
///   the frontend's environ (`SCRIPT_NAME` extended by `path`, `PATH_INFO` the rest): no ASGI
///   events and no second environ, as if the application were served alone. It also sees what
///   only the web server knows (a `fastcgi_param` such as `DOCUMENT_ROOT`). `legacy`'s body limit
///   still holds: a request whose declared body is larger, or whose length is not declared, goes
///   through `legacy` the async way (which answers 413 past the limit); so does every request
///   when `legacy` runs on an `executor` of its own or thread-sensitively, or when
///   `ASGI_WSGI_INLINE=0`. On the direct way the frontend's own limits (repeated headers, the
///   request timeout) and logger apply, as for any WSGI-style application it serves.
///
/// Other requests go to `application` through ``ASGIToWSGI`` as usual. Nested mounts are followed
/// (a mount whose `application` is another mount). Middleware wrapped around the mount hides it:
/// its requests then take the async way, so no middleware is ever skipped.
///
/// ```swift
/// let app = WSGIMount("/legacy", WSGIToASGI(legacyPages, maxRequestBodyBytes: 1 << 20), in: asyncRoutes)
/// let http = ASGIHTTPServer(application: app, configuration: .init(), logger: logger)
/// let fastCGI = FastCGIServer(application: app, configuration: fastCGIConfiguration, logger: logger)
/// ```
public struct WSGIMount: ASGIApplication {
    /// Where the legacy application is mounted: starts with `/`, no trailing `/`.
    public let path: String
    /// The legacy application, with the options it is served with through ASGI.
    public let legacy: WSGIToASGI
    /// What serves every scope outside `path`.
    public let application: any ASGIApplication
    /// `path` as an environ carries it (its UTF-8 bytes read as latin-1, PEP 3333).
    private let environPath: String

    /// Mounts `legacy` at `path` in front of `application`.
    /// - Parameters:
    ///   - path: the mount point, such as `/legacy` (a missing leading `/` is added, trailing ones
    ///     are dropped; `/` alone mounts `legacy` at the root, in front of everything).
    ///   - legacy: the WSGI-style application and its options.
    ///   - application: what serves everything else.
    public init(_ path: String, _ legacy: WSGIToASGI, in application: any ASGIApplication) {
        var normalized = path.hasPrefix("/") ? path : "/" + path
        while normalized.hasSuffix("/") { normalized.removeLast() }
        self.path = normalized
        self.legacy = legacy
        self.application = application
        self.environPath = String(latin1: normalized.utf8)
    }

    /// Serves one connection: HTTP requests under ``path`` with the legacy application, every
    /// other scope with ``application``.
    public func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        guard case .http(var http) = scope, RootPath.contains(Self.below(http.rootPath, http.path), under: path) else {
            try await application(scope: scope, receive: receive, send: send)
            return
        }
        http.rootPath += path
        try await legacy(scope: .http(http), receive: receive, send: send)
    }

    // MARK: Blocking frontends

    /// The WSGI-style application that serves `environ` directly on a blocking frontend's thread,
    /// and the environ it gets; `nil` when the request takes the async way. Follows nested mounts.
    func blockingRoute(for environ: Environ) -> (any WSGIApplication, Environ)? {
        let pathInfo = environ["PATH_INFO"] ?? ""
        var mount = self
        while true {
            // An empty mount point (the root) takes every path.
            if RootPath.contains(pathInfo, under: mount.environPath) {
                return mount.runsDirectly(environ) ? (mount.legacy.application, mount.mounted(environ)) : nil
            }
            guard let inner = mount.application as? WSGIMount else { return nil }
            mount = inner
        }
    }

    /// Whether `legacy` may run on the frontend's thread with the frontend's environ: as
    /// ``WSGIToASGI`` would run it on that thread (no executor of its own, not thread-sensitive,
    /// not turned off), with a body that cannot pass its limit.
    private func runsDirectly(_ environ: Environ) -> Bool {
        guard legacy.executor == nil, !legacy.threadSensitive, WSGIToASGI.runsOnWaitingThreads else { return false }
        if let raw = environ["CONTENT_LENGTH"], !raw.isEmpty {
            guard let declared = ContentLength.value(raw.utf8) else { return false }
            return legacy.maxRequestBodyBytes.map { declared <= $0 } ?? true
        }
        // No declared length: only a request without a body.
        return environ["HTTP_TRANSFER_ENCODING"] == nil
    }

    /// `environ` as the mounted application sees it: `SCRIPT_NAME` extended by the mount point,
    /// `PATH_INFO` the rest (the scope's `root_path` too, when there is one).
    private func mounted(_ environ: Environ) -> Environ {
        var environ = environ
        let pathInfo = environ["PATH_INFO"] ?? ""
        environ["SCRIPT_NAME"] = (environ["SCRIPT_NAME"] ?? "") + environPath
        environ["PATH_INFO"] = String(pathInfo.utf8.dropFirst(environPath.utf8.count)) ?? ""
        environ.scope?.rootPath += path
        return environ
    }

    // MARK: Paths

    /// `path` below `rootPath` (the whole path when it does not lie under it).
    private static func below(_ rootPath: String, _ path: String) -> Substring {
        guard RootPath.contains(path, under: rootPath) else { return path[...] }
        return Substring(path.utf8.dropFirst(rootPath.utf8.count))
    }
}
