import ASGI
import ASGIFastCGI
import ASGIHTTPServer
import AsyncBridge
import Logging
import ServiceLifecycle

/// The servers a serving process runs (a worker, or the runner itself with `--workers 0`), as
/// the options ask: each request recorded in the scoreboard, the status and ping paths answered
/// from it, and the process marked ready once every server accepts.
enum ServerAssembly {
    /// Whether the options serve FastCGI and HTTP.
    static func frontends(_ options: GatewayOptions) -> (fastCGI: Bool, http: Bool) {
        (options.fastcgi != nil, options.servesHTTP)
    }

    static func services(
        _ application: Gateway.Application,
        options: GatewayOptions,
        process: ServingProcess,
        logging: GatewayLogging
    ) throws -> [any Service] {
        var services: [any Service] = []
        let timeout: Duration? = options.requestTimeout > 0 ? .milliseconds(Int64(options.requestTimeout * 1000)) : nil
        let grace = Duration.milliseconds(Int64(options.gracefulTimeout * 1000))
        let endpoints = StatusEndpoints(
            statusPath: options.supervision.status,
            pingPath: options.supervision.ping,
            scoreboard: process.scoreboard,
            pool: Gateway.commandName
        )
        let (servesFastCGI, servesHTTP) = frontends(options)
        let onListening: @Sendable () -> Void = { process.frontendListening() }
        if servesFastCGI {
            // A worker serves the socket its supervisor bound, on fd 0 as spawn-fcgi passes it.
            guard let bind = process.handOver == nil ? options.fastcgiBind : .inherited else {
                throw GatewayError(.bindFailed, "--fastcgi must be unix:PATH, HOST:PORT or stdin.")
            }
            var configuration = FastCGIConfiguration(
                bind: bind,
                workerThreads: options.threads,
                maxRequestBodyBytes: options.maxBody,
                requestTimeout: timeout,
                gracefulShutdownTimeout: grace
            )
            options.applyServingOptions(to: &configuration)
            // The supervisor set the socket's group when it bound it; a worker's socket is inherited.
            if process.handOver != nil { configuration.socketGroup = nil }
            let fastcgiLogger = logging.logger("asgi.fastcgi")
            switch application {
            case .asgi(let app):
                let tracked = TrackedApplication(application: app, tracker: process.tracker, endpoints: endpoints)
                services.append(FastCGIServer(application: tracked, configuration: configuration, logger: fastcgiLogger, onListening: onListening))
            case .wsgi(let app):
                let tracked = TrackedWSGIApplication(application: app, tracker: process.tracker, endpoints: endpoints)
                services.append(FastCGIServer(application: tracked, configuration: configuration, logger: fastcgiLogger, onListening: onListening))
            }
        }
        if servesHTTP {
            let address = options.http ?? HostPort(argument: "127.0.0.1:8080")!
            let asgi: any ASGIApplication
            let tracker: RequestTracker?
            var acceptPause: AcceptPause? = nil
            switch application {
            case .asgi(let app):
                asgi = app
                tracker = process.tracker
            case .wsgi(let app):
                let pool = options.threads.map { BlockingThreadPool(threads: $0, queueLimit: 65_536, name: "asgi-wsgi") }
                // A worker whose blocking threads are all busy (a request that timed out counts
                // while its handler runs) leaves new connections to the other workers.
                if process.handOver?.http != nil {
                    acceptPause = AcceptPause(limit: (pool ?? BlockingThreadPool.shared).threads)
                }
                // Recorded on its thread: a request timeout answers the client, not the thread.
                let tracked = TrackedWSGIApplication(application: app, tracker: process.tracker, endpoints: nil, busy: acceptPause)
                asgi = options.wsgiToASGI(tracked, executor: pool, logger: logging.logger("asgi.wsgi"))
                tracker = nil
            }
            var configuration = HTTPServerConfiguration(
                host: address.host,
                port: address.port,
                maxRequestBodyBytes: options.maxBody,
                gracefulShutdownTimeout: grace
            )
            options.applyServingOptions(to: &configuration)
            configuration.listeningSocket = process.handOver?.http.map { .descriptor($0) }
            configuration.acceptPause = acceptPause
            let limited = timeout.map { RequestTimeout(asgi, limit: $0, logger: logging.logger("asgi.timeout")) as any ASGIApplication } ?? asgi
            let (served, slowLog) = options.httpApplication(limited, logger: logging.logger("asgi.slow"))
            let tracked = TrackedApplication(application: served, tracker: tracker, endpoints: endpoints)
            // Before the server: a graceful shutdown ends services in reverse order.
            if let slowLog { services.append(SlowRequestWatcher(log: slowLog)) }
            services.append(
                ASGIHTTPServer(
                    application: tracked,
                    configuration: configuration,
                    logger: logging.logger("asgi.http"),
                    onServerRunning: { _ in onListening() }
                )
            )
        }
        return services
    }
}
