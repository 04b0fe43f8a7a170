@_spi(ASGIFrontend) public import ASGI
import AsyncBridge
import CoreMetrics
public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// An HTTP/1.1 and WebSocket server for ASGI applications, on SwiftNIO: what uvicorn is to Python.
///
/// It serves any `ASGIApplication` (a `WSGIToASGI`-wrapped legacy application too):
/// - keep-alive and pipelined requests, request bodies streamed to `receive()` as the application
///   reads them and responses streamed from `send()`, both with back-pressure;
/// - `http.disconnect` when the client goes; `send` on a closed connection throws
///   `ClientDisconnectedError`;
/// - response trailers for clients that send `TE: trailers`; `http.response.pathsend` with
///   `sendfile` (the file never passes through the process's memory);
/// - WebSockets: the handshake completes only when the application accepts (with its subprotocol),
///   a close before accept answers 403, the `websocket.http.response` extension sends a custom denial;
/// - the `lifespan` scope around serving, its state copied into every request scope;
/// - limits (header size and count: 431; body size: 413; connections and concurrent requests: 503;
///   keep-alive idle timeout), `root_path`, an access log line per request, swift-metrics;
/// - graceful shutdown as a swift-service-lifecycle `Service`: stop accepting, let requests in
///   flight finish (up to ``HTTPServerConfiguration/gracefulShutdownTimeout``), close open
///   WebSockets with 1001, run `lifespan.shutdown`, return.
///
/// ```swift
/// let server = ASGIHTTPServer(application: app, configuration: .init(port: 8080), logger: logger)
/// let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
/// try await group.run()
/// ```
public struct ASGIHTTPServer: Service {
    /// The application served.
    public let application: any ASGIApplication
    /// The server's settings.
    public let configuration: HTTPServerConfiguration
    /// Where the server logs (startup, errors, the access log).
    public let logger: Logger

    private let eventLoopGroup: any EventLoopGroup
    private let onServerRunning: (@Sendable (ASGIAddress) async -> Void)?
    private let status = ServerStatus()

    /// Creates a server.
    /// - Parameters:
    ///   - application: the ASGI application to serve.
    ///   - configuration: address, limits, lifespan mode, shutdown timeout.
    ///   - logger: where the server logs; the access log goes here at `info`.
    ///   - eventLoopGroup: the SwiftNIO event loops to run on (default: NIO's shared group).
    ///   - onServerRunning: called once the server listens, with the bound address (useful with port 0).
    public init(
        application: any ASGIApplication,
        configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
        logger: Logger,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        onServerRunning: (@Sendable (ASGIAddress) async -> Void)? = nil
    ) {
        self.application = application
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.onServerRunning = onServerRunning
    }

    /// The address the server listens on, once it does (`nil` before and after).
    public var listeningAddress: ASGIAddress? {
        status.address
    }

    /// Runs the server: lifespan startup, listen, serve until graceful shutdown (or cancellation),
    /// lifespan shutdown. Returns after a graceful shutdown completed.
    /// - Throws: ``HTTPServerError`` when startup fails (`lifespanStartupFailed` carries the
    ///   application's message) or the address cannot be bound; `CancellationError` when cancelled.
    public func run() async throws {
        guard status.start() else {
            throw HTTPServerError(.alreadyRunning, "This ASGIHTTPServer is already running or has run; create a new one.")
        }
        guard configuration.lifespan != .off else {
            try await serve(lifespanState: nil)
            return
        }
        let lifespan = LifespanRunner(application: application, mode: configuration.lifespan == .on ? .on : .auto, logger: logger)
        do {
            try await lifespan.around {
                try await serve(lifespanState: lifespan.requestState)
            }
        } catch let failure as LifespanRunner.Failure {
            switch failure {
            case .startupFailed(let message):
                throw HTTPServerError(.lifespanStartupFailed, "Application startup failed: \(message)")
            case .lifespanFailed(let message):
                throw HTTPServerError(.lifespanFailed, message)
            }
        }
    }

    // MARK: Serving

    private enum ChildResult: Sendable {
        case acceptLoopEnded
        case graceExpired
        case other
    }

    private func serve(lifespanState: LifespanState?) async throws {
        let context = ServerContext(application: application, configuration: configuration, logger: logger, lifespanState: lifespanState)
        let source: ConnectionSource
        if let socket = configuration.listeningSocket {
            source = try ConnectionSource(descriptor: socket.descriptor, ownership: .shared, eventLoopGroup: eventLoopGroup, context: context)
        } else {
            source = try ConnectionSource(
                host: configuration.host,
                port: configuration.port,
                backlog: configuration.backlog,
                eventLoopGroup: eventLoopGroup,
                context: context
            )
        }
        let address = source.address ?? ASGIAddress(host: configuration.host, port: configuration.port)
        status.listening(at: address)
        defer { status.stopped() }
        logger.info("ASGI HTTP server listening on http://\(address.host):\(address.port ?? 0)")
        await onServerRunning?(address)

        let grace = configuration.gracefulShutdownTimeout
        let logger = self.logger
        let executors = configuration.runsOnEventLoops ? EventLoopTaskExecutors(eventLoopGroup) : nil
        await withTaskGroup(of: ChildResult.self) { group in
            group.addTask {
                // Graceful shutdown: stop accepting, let connections finish, then cut them off.
                do {
                    try await gracefulShutdown()
                } catch {
                    return .other
                }
                logger.info("Shutting down: no new connections; waiting up to \(grace) for requests in flight.")
                source.initiateShutdown()
                do {
                    try await Task.sleep(for: grace)
                } catch {
                    return .other
                }
                return .graceExpired
            }
            if let gauge = context.metrics.bridgeQueue, let pool = configuration.metrics.bridgePool {
                let interval = configuration.metrics.bridgeQueueSampleInterval
                group.addTask {
                    while !Task.isCancelled {
                        gauge.record(pool.queuedJobs)
                        try? await Task.sleep(for: interval)
                    }
                    return .other
                }
            }
            group.addTask {
                await withDiscardingTaskGroup { connections in
                    do {
                        try await source.acceptConnections { eventLoop, accepted in
                            let executor = executors?.executor(for: eventLoop)
                            connections.addTask(executorPreference: executor) {
                                guard let accepted = try? await accepted() else { return }
                                await context.handle(accepted)
                            }
                        }
                    } catch {
                        logger.error("Accepting connections failed: \(String(describing: error))")
                    }
                }
                return .acceptLoopEnded
            }
            while let result = await group.next() {
                switch result {
                case .acceptLoopEnded:
                    group.cancelAll()
                case .graceExpired:
                    logger.warning("Graceful shutdown timed out after \(grace); cancelling the requests still in flight.")
                    group.cancelAll()
                case .other:
                    continue
                }
            }
        }
        try Task.checkCancellation()
    }
}

/// Whether a server has run, and where it listens.
private final class ServerStatus: Sendable {
    private let state = Mutex<(started: Bool, address: ASGIAddress?)>((false, nil))

    func start() -> Bool {
        state.withLock { state in
            if state.started { return false }
            state.started = true
            return true
        }
    }

    func listening(at address: ASGIAddress) { state.withLock { $0.address = address } }
    func stopped() { state.withLock { $0.address = nil } }
    var address: ASGIAddress? { state.withLock { $0.address } }
}
