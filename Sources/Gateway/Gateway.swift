public import ASGI
import ASGIFastCGI
import ASGIHTTPServer
import ArgumentParser
import AsyncBridge
public import Logging
import ServiceLifecycle
import UnixSignals

/// The version of swift-asgi, as `--version` prints it.
let asgiVersionString = asgiVersion

/// The runner a user's `main` calls: parses the command line, and serves the application over
/// HTTP and/or FastCGI from supervised worker processes (or from this process with `--workers 0`).
///
/// ```swift
/// @main struct Main {
///     static func main() async throws { try await Gateway.run(myLegacyApp) }
/// }
/// ```
///
/// ```text
/// $ my-app --http 127.0.0.1:8080 --fastcgi unix:/run/my-app.sock --threads 16 --workers 4
/// ```
///
/// Options: `--http HOST:PORT` (default 127.0.0.1:8080 when neither server is chosen),
/// `--fastcgi unix:PATH|HOST:PORT|stdin`, `--threads N`, `--log-level LEVEL`, `--max-body BYTES`,
/// `--request-timeout SECONDS`, `--graceful-timeout SECONDS`, `--slow-log SECONDS`,
/// `--root-path PATH`, `--limit-concurrency N`, `--socket-mode OCTAL`, `--socket-group NAME`,
/// `--proxy-headers`, `--forwarded-allow-ips LIST`, `--access-log`/`--no-access-log`,
/// `--workers N`, `--worker-timeout SECONDS`, `--max-requests N`, `--max-requests-jitter N`,
/// `--worker-memory-limit MiB`, `--status PATH`, `--ping PATH`, `--version`, `--help`. Bad
/// options print a clear message and exit non-zero.
///
/// The process started is the supervisor: it binds the sockets and spawns `--workers` copies of
/// the executable that serve them (each calls `Gateway.run` again and finds itself a worker), and
/// never calls the application. Code that `main` runs before `Gateway.run` runs in every process;
/// the application's own startup belongs in its `lifespan` scope, which each worker runs.
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
    /// Over FastCGI it runs directly on the worker threads; over HTTP through `WSGIToASGI` on a
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

    /// Parses `arguments` (exiting on `--help`, `--version` or a bad option) and serves: as a
    /// worker when a supervisor started this process, else as the supervisor, or in this process
    /// with `--workers 0`.
    static func run(_ application: Application, arguments: [String], hostLogger: Logger?) async throws {
        let options: GatewayOptions
        do {
            options = try GatewayOptions.parse(arguments)
        } catch {
            GatewayOptions.exit(withError: error)
        }
        let logging = hostLogger.map { GatewayLogging(host: $0, level: options.logLevel) } ?? GatewayLogging(level: options.logLevel)
        let logger = logging.logger("asgi.gateway")
        let handOver: WorkerHandOver?
        do {
            handOver = try WorkerHandOver.take()
        } catch {
            logger.critical("\(error)")
            throw error
        }
        if let handOver {
            await serveAsWorker(application, options: options, handOver: handOver, logging: logging)
        } else if options.supervision.workers == 0 {
            try await serveInProcess(application, options: options, logging: logging)
        } else {
            try await supervise(options: options, arguments: [CommandLine.arguments.first ?? commandName] + arguments, logger: logger)
        }
    }

    /// Runs the supervisor on a thread of its own until it has stopped every worker.
    static func supervise(options: GatewayOptions, arguments: [String], logger: Logger) async throws {
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(options: options, arguments: arguments, logger: logger)
        } catch {
            logger.critical("\(error)")
            throw error
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            do {
                try PlainThread.start(name: "asgi-supervisor") {
                    supervisor.run()
                    continuation.resume()
                }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}
