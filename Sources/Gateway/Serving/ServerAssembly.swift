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
        (options.fastcgi != nil, options.http != nil || options.fastcgi == nil)
    }

    static func services(
        _ application: Gateway.Application, options: GatewayOptions, process: ServingProcess, metadata: Logger.Metadata
    ) throws -> [any Service] {
        var services: [any Service] = []
        let timeout: Duration? = options.requestTimeout > 0 ? .milliseconds(Int64(options.requestTimeout * 1000)) : nil
        let grace = Duration.milliseconds(Int64(options.gracefulTimeout * 1000))
        let endpoints = StatusEndpoints(
            statusPath: options.supervision.status, pingPath: options.supervision.ping,
            scoreboard: process.scoreboard, pool: Gateway.commandName
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
            configuration.accessLog = true
            let fastcgiLogger = Logger(label: "asgi.fastcgi", metadata: metadata)
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
            switch application {
            case .asgi(let app):
                asgi = app
                tracker = process.tracker
            case .wsgi(let app):
                // Recorded on its thread: a request timeout answers the client, not the thread.
                let tracked = TrackedWSGIApplication(application: app, tracker: process.tracker, endpoints: nil)
                let pool = options.threads.map { BlockingThreadPool(threads: $0, queueLimit: 65_536, name: "asgi-wsgi") }
                asgi = WSGIToASGI(tracked, maxRequestBodyBytes: options.maxBody, executor: pool, logger: Logger(label: "asgi.wsgi", metadata: metadata))
                tracker = nil
            }
            var configuration = HTTPServerConfiguration(
                host: address.host,
                port: address.port,
                maxRequestBodyBytes: options.maxBody,
                gracefulShutdownTimeout: grace
            )
            configuration.listeningSocket = process.handOver?.http.map { .descriptor($0) }
            let limited = timeout.map { RequestTimeout(asgi, limit: $0) as any ASGIApplication } ?? asgi
            let tracked = TrackedApplication(application: limited, tracker: tracker, endpoints: endpoints)
            services.append(ASGIHTTPServer(
                application: tracked, configuration: configuration, logger: Logger(label: "asgi.http", metadata: metadata),
                onServerRunning: { _ in onListening() }
            ))
        }
        return services
    }
}

extension Logger {
    /// A logger labelled `label` that carries `metadata` (a worker's number and pid).
    init(label: String, metadata: Logger.Metadata) {
        self.init(label: label)
        for (key, value) in metadata { self[metadataKey: key] = value }
    }
}
