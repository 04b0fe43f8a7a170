public import ASGI
public import Logging
public import ServiceLifecycle

/// A FastCGI server on libfcgi, behind nginx (or any FastCGI web server), as PHP-FPM and flup
/// serve applications.
///
/// `workerThreads` plain threads accept connections and read requests with libfcgi's
/// `FCGX_Accept_r`. A WSGI-style application runs directly on the worker thread, with no thread
/// hop; an ASGI application runs through `ASGIToWSGI`, with the worker thread as its sync parent
/// (`AsyncToSync`), so its code, its body reads and its response writes all happen on that thread.
/// The environ and scope are built from the FastCGI parameters the way every server of this
/// package builds them, never from the process environment.
///
/// The application's lifespan runs around serving: `lifespan.startup` (an ASGI application's, or a
/// WSGI-style one's `WSGILifespan` hooks) before the first connection is accepted, its
/// state copied into every request scope; `lifespan.shutdown` after the last request ended. A
/// failed startup stops `run()` with ``FastCGIError/Code/lifespanStartupFailed`` and the
/// application's message. `http.response.pathsend` (and `wsgi.file_wrapper`) stream the file.
///
/// Bodies stream both ways: the request body is read as the application asks for it, and each
/// response chunk is flushed to the web server as it is produced (with nginx's
/// `fastcgi_buffering off`, it reaches the client at once). `FCGI_KEEP_CONN` is honoured. Limits
/// (body size, parameter size and count, request timeout, read timeout, listen backlog) have safe
/// defaults; see ``FastCGIConfiguration``.
///
/// It is a swift-service-lifecycle `Service`: on graceful shutdown (SIGTERM/SIGINT through a
/// `ServiceGroup`) it stops accepting new connections (a unix socket file is removed first),
/// still answers the connections already waiting in the listen queue (the web server sent their
/// requests; at most as many as the queue held), lets in-flight requests finish within
/// ``FastCGIConfiguration/gracefulShutdownTimeout``, and `run()` returns; on cancellation it cuts
/// in-flight requests and returns.
///
/// ```swift
/// let server = FastCGIServer(
///     application: myWSGIApp,
///     configuration: FastCGIConfiguration(bind: .unix(path: "/run/app/fcgi.sock", mode: 0o660)),
///     logger: Logger(label: "app.fastcgi")
/// )
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
///
/// libfcgi is initialised once per process (`FCGX_Init`). The signal handlers it would install
/// (`SIGUSR1`, `SIGTERM`: its "shutdown pending" flag, which makes every libfcgi read and write
/// fail) are removed again, leaving the dispositions from before; `SIGPIPE`, if still at its
/// default, is ignored. The module is Linux-only.
public struct FastCGIServer: Service {
    private let core: ServerCore

    /// A server for an ASGI application: each request runs it with the worker thread as its sync
    /// parent.
    /// - Parameters:
    ///   - application: the application.
    ///   - configuration: where to listen, threads, limits.
    ///   - logger: where the server logs (startup, shutdown, errors, slow requests, one access line
    ///     per request at `info`, the application's `wsgi.errors`).
    public init(application: any ASGIApplication, configuration: FastCGIConfiguration, logger: Logger) {
        core = ServerCore(application: .asgi(application), configuration: configuration, logger: logger)
    }

    /// A server for a WSGI-style application: each request runs it directly on the worker thread.
    /// - Parameters:
    ///   - application: the application.
    ///   - lifespan: hooks run before the first request is accepted and after the last one ended;
    ///     a startup hook that throws stops the server with its message.
    ///   - configuration: where to listen, threads, limits.
    ///   - logger: where the server logs (startup, shutdown, errors, slow requests, one access line
    ///     per request at `info`, the application's `wsgi.errors`).
    public init(application: any WSGIApplication, lifespan: WSGILifespan = WSGILifespan(), configuration: FastCGIConfiguration, logger: Logger) {
        core = ServerCore(application: .wsgi(application, lifespan), configuration: configuration, logger: logger)
    }

    /// A server that calls `onListening` once its worker threads accept connections (the
    /// `Gateway` runner's workers report readiness to their supervisor with it).
    package init(application: any ASGIApplication, configuration: FastCGIConfiguration, logger: Logger, onListening: @escaping @Sendable () -> Void) {
        core = ServerCore(application: .asgi(application), configuration: configuration, logger: logger, onListening: onListening)
    }

    /// A server for a WSGI-style application that calls `onListening` once its worker threads
    /// accept connections.
    package init(
        application: any WSGIApplication,
        lifespan: WSGILifespan = WSGILifespan(),
        configuration: FastCGIConfiguration,
        logger: Logger,
        onListening: @escaping @Sendable () -> Void
    ) {
        core = ServerCore(application: .wsgi(application, lifespan), configuration: configuration, logger: logger, onListening: onListening)
    }

    /// The configuration the server runs with.
    public var configuration: FastCGIConfiguration { core.configuration }

    /// A snapshot of the server's counters (what the status endpoint shows).
    public var status: FastCGIStatus { core.status() }

    /// Listens and serves until a graceful shutdown or cancellation; returns once in-flight
    /// requests have finished (or the grace period ran out).
    /// - Throws: ``FastCGIError`` when the socket cannot be bound, a thread cannot start, accepting
    ///   fails for good, or the server already ran.
    public func run() async throws {
        try await core.run()
    }
}
