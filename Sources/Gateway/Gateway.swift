import ASGI
import ASGIFastCGI
import ASGIHTTPServer
import ArgumentParser
import AsyncBridge
import Logging
import ServiceLifecycle
import UnixSignals

/// The version of swift-asgi, as `--version` prints it.
let asgiVersionString = asgiVersion

/// The runner a user's `main` calls: parses the command line, serves the application over HTTP
/// and/or FastCGI, and shuts down gracefully on SIGTERM/SIGINT.
///
/// ```swift
/// @main struct Main {
///     static func main() async throws { try await Gateway.run(myLegacyApp) }
/// }
/// ```
///
/// ```text
/// $ my-app --http 127.0.0.1:8080 --fastcgi unix:/run/my-app.sock --threads 16
/// ```
///
/// Options: `--http HOST:PORT` (default 127.0.0.1:8080 when neither server is chosen),
/// `--fastcgi unix:PATH|HOST:PORT|stdin`, `--threads N`, `--log-level LEVEL`, `--max-body BYTES`,
/// `--request-timeout SECONDS`, `--graceful-timeout SECONDS`, `--slow-log SECONDS`,
/// `--root-path PATH`, `--limit-concurrency N`, `--socket-mode OCTAL`, `--socket-group NAME`,
/// `--proxy-headers`, `--forwarded-allow-ips LIST`, `--access-log`/`--no-access-log`,
/// `--version`, `--help`. Bad options print a clear message and exit non-zero.
///
/// The runner never calls `LoggingSystem.bootstrap`, so it works whether or not the host program
/// has bootstrapped logging: its own lines go to standard error at `--log-level`, or through the
/// handler of the logger passed to ``run(_:logger:)-(ASGIApplication,_)``.
public enum Gateway {
    /// The command name shown in `--help`: the executable's name.
    static var commandName: String {
        CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "gateway"
    }

    /// Serves an ASGI application as the command line says; returns after a graceful shutdown.
    public static func run(_ application: any ASGIApplication) async throws {
        try await run(.asgi(application), arguments: Array(CommandLine.arguments.dropFirst()), hostLogger: nil)
    }

    /// Serves a WSGI-style application as the command line says; returns after a graceful shutdown.
    ///
    /// Over FastCGI it runs directly on the worker threads; over HTTP through ``WSGIToASGI`` on a
    /// pool of `--threads` blocking threads.
    public static func run(_ application: any WSGIApplication) async throws {
        try await run(.wsgi(application), arguments: Array(CommandLine.arguments.dropFirst()), hostLogger: nil)
    }

    /// Serves an ASGI application as the command line says, logging through `logger`'s handler
    /// (at `--log-level`); returns after a graceful shutdown.
    ///
    /// For a host program that has its own logging set up (`LoggingSystem.bootstrap`, a
    /// structured or remote log handler): the runner's and the servers' lines go where its lines go.
    public static func run(_ application: any ASGIApplication, logger: Logger) async throws {
        try await run(.asgi(application), arguments: Array(CommandLine.arguments.dropFirst()), hostLogger: logger)
    }

    /// Serves a WSGI-style application as the command line says, logging through `logger`'s
    /// handler (at `--log-level`); returns after a graceful shutdown.
    public static func run(_ application: any WSGIApplication, logger: Logger) async throws {
        try await run(.wsgi(application), arguments: Array(CommandLine.arguments.dropFirst()), hostLogger: logger)
    }

    enum Application: Sendable {
        case asgi(any ASGIApplication)
        case wsgi(any WSGIApplication)
    }

    /// Parses `arguments` (exiting on `--help`, `--version` or a bad option) and serves.
    static func run(_ application: Application, arguments: [String], hostLogger: Logger?) async throws {
        let options: GatewayOptions
        do {
            options = try GatewayOptions.parse(arguments)
        } catch {
            GatewayOptions.exit(withError: error)
        }
        let logging = hostLogger.map { GatewayLogging(host: $0, level: options.logLevel) } ?? GatewayLogging(level: options.logLevel)
        let logger = logging.logger("asgi.gateway")
        let services = try makeServices(application, options: options, logging: logging)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
    }

    /// The servers the options ask for.
    static func makeServices(_ application: Application, options: GatewayOptions, logging: GatewayLogging) throws -> [any Service] {
        var services: [any Service] = []
        let timeout: Duration? = options.requestTimeout > 0 ? .milliseconds(Int64(options.requestTimeout * 1000)) : nil
        let grace = Duration.milliseconds(Int64(options.gracefulTimeout * 1000))
        if let bind = options.fastcgiBind {
            var configuration = FastCGIConfiguration(
                bind: bind,
                workerThreads: options.threads,
                maxRequestBodyBytes: options.maxBody,
                requestTimeout: timeout,
                gracefulShutdownTimeout: grace
            )
            options.applyServingOptions(to: &configuration)
            let fastcgiLogger = logging.logger("asgi.fastcgi")
            switch application {
            case .asgi(let app):
                services.append(FastCGIServer(application: app, configuration: configuration, logger: fastcgiLogger))
            case .wsgi(let app):
                services.append(FastCGIServer(application: app, configuration: configuration, logger: fastcgiLogger))
            }
        }
        if options.servesHTTP {
            let address = options.http ?? HostPort(argument: "127.0.0.1:8080")!
            let asgi: any ASGIApplication
            switch application {
            case .asgi(let app):
                asgi = app
            case .wsgi(let app):
                let pool = options.threads.map { BlockingThreadPool(threads: $0, queueLimit: 65_536, name: "asgi-wsgi") }
                asgi = WSGIToASGI(app, maxRequestBodyBytes: options.maxBody, executor: pool, logger: logging.logger("asgi.wsgi"))
            }
            var configuration = HTTPServerConfiguration(
                host: address.host,
                port: address.port,
                maxRequestBodyBytes: options.maxBody,
                gracefulShutdownTimeout: grace
            )
            options.applyServingOptions(to: &configuration)
            let limited = timeout.map { RequestTimeout(asgi, limit: $0, logger: logging.logger("asgi.timeout")) as any ASGIApplication } ?? asgi
            let (served, slowLog) = options.httpApplication(limited, logger: logging.logger("asgi.slow"))
            // Before the server: a graceful shutdown ends services in reverse order.
            if let slowLog { services.append(SlowRequestWatcher(log: slowLog)) }
            services.append(ASGIHTTPServer(application: served, configuration: configuration, logger: logging.logger("asgi.http")))
        }
        return services
    }
}
