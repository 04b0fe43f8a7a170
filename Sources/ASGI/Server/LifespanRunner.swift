public import Logging
import Synchronization

/// Runs an application's `lifespan` scope around serving (ASGI lifespan spec 2.0, as uvicorn does),
/// for every server of the package.
///
/// The application's call runs in a task of its own for the server's whole life (``runApplication()``):
/// it receives `lifespan.startup` before the server accepts and `lifespan.shutdown` after the last
/// request. The state it fills is shallow-copied into every request scope (``requestState``).
@_spi(ASGIFrontend) public final class LifespanRunner: Sendable {
    /// How strictly the server holds the application to the lifespan protocol.
    public enum Mode: Sendable {
        /// An application that raises on the lifespan scope (or returns) before startup completes
        /// does not support lifespan: serve without it (the spec's rule).
        case auto
        /// An application that raises on the lifespan scope stops the server.
        case on
    }

    /// Why startup stops the server.
    public enum Failure: Error, Hashable {
        /// The application answered `lifespan.startup.failed` with this message.
        case startupFailed(String)
        /// In mode `on`: the application raised (its error's description) or returned without answering.
        case lifespanFailed(String)
    }

    /// What the application did, as the server sees it.
    private enum Report: Sendable {
        case sent(SendEvent)
        case returned
        case raised(String)
    }

    private enum Phase {
        case idle
        case startingUp
        case started
        case shuttingDown
        case done
    }

    let application: any ASGIApplication
    let mode: Mode
    let logger: Logger
    let state = LifespanState()

    private let toApplication = AsyncEventQueue<ReceiveEvent>()
    private let fromApplication = AsyncEventQueue<Report>()
    private let phase = Mutex(Phase.idle)
    private let supported = Mutex(false)

    public init(application: any ASGIApplication, mode: Mode, logger: Logger) {
        self.application = application
        self.mode = mode
        self.logger = logger
    }

    /// The state to copy into request scopes: `nil` when the application does not support lifespan.
    public var requestState: LifespanState? {
        supported.withLock { $0 } ? state : nil
    }

    /// The application's lifespan call; returns when the application returns (or is cancelled).
    public func runApplication() async {
        let scope = Scope.lifespan(LifespanScope(state: state))
        do {
            try await application(
                scope: scope,
                receive: { [toApplication] in try await toApplication.pop() },
                send: { [self] event in try self.accept(event) }
            )
            _ = fromApplication.push(.returned)
        } catch {
            _ = fromApplication.push(.raised(String(describing: error)))
        }
    }

    /// Checks an event the application sent and passes it to the server.
    private func accept(_ event: SendEvent) throws {
        try phase.withLock { phase in
            switch (phase, event) {
            case (.startingUp, .lifespanStartupComplete), (.startingUp, .lifespanStartupFailed):
                phase = .started
            case (.shuttingDown, .lifespanShutdownComplete), (.shuttingDown, .lifespanShutdownFailed):
                phase = .done
            default:
                throw ASGIProtocolError.unexpected(event, "it does not answer the lifespan event the server sent")
            }
        }
        _ = fromApplication.push(.sent(event))
    }

    /// Sends `lifespan.startup` and waits for the answer.
    /// - Throws: ``Failure`` when the server must not serve; `CancellationError` when cancelled.
    public func startup() async throws {
        phase.withLock { $0 = .startingUp }
        logger.info("Waiting for application startup.")
        _ = toApplication.push(.lifespanStartup)
        switch try await fromApplication.pop() {
        case .sent(.lifespanStartupComplete):
            supported.withLock { $0 = true }
            logger.info("Application startup complete.")
        case .sent(.lifespanStartupFailed(let message)):
            logger.error("Application startup failed: \(message)")
            throw Failure.startupFailed(message)
        case .sent:
            throw Failure.lifespanFailed("The application answered lifespan.startup with an unexpected event.")
        case .raised(let message):
            if mode == .on {
                logger.error("Exception in 'lifespan' protocol: \(message)")
                throw Failure.lifespanFailed("The application raised on the lifespan scope: \(message)")
            }
            logger.info("ASGI 'lifespan' protocol appears unsupported (\(message)); serving without it.")
        case .returned:
            if mode == .on {
                throw Failure.lifespanFailed("The application returned from the lifespan scope without answering lifespan.startup.")
            }
            logger.info("ASGI 'lifespan' protocol appears unsupported (the application returned); serving without it.")
        }
    }

    /// Sends `lifespan.shutdown` (if startup completed) and waits for the answer; failures are logged.
    public func shutdown() async {
        guard supported.withLock({ $0 }) else { return }
        phase.withLock { $0 = .shuttingDown }
        logger.info("Waiting for application shutdown.")
        _ = toApplication.push(.lifespanShutdown)
        guard let report = try? await fromApplication.pop() else { return }
        switch report {
        case .sent(.lifespanShutdownFailed(let message)):
            logger.error("Application shutdown failed: \(message)")
        case .sent, .returned:
            logger.info("Application shutdown complete.")
        case .raised(let message):
            logger.error("Exception in 'lifespan' protocol during shutdown: \(message)")
        }
    }

    /// Lets a lifespan call that still waits for an event end.
    public func close() {
        toApplication.close(throwing: CancellationError())
    }

    /// Runs `serve` between startup and shutdown, with the application's lifespan call alive around
    /// it: the shape every server's `run()` has.
    /// - Throws: ``Failure`` from startup, or what `serve` throws.
    public func around<R: Sendable>(_ serve: @Sendable () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.runApplication() }
            do {
                try await startup()
                let result = try await serve()
                await shutdown()
                close()
                group.cancelAll()
                return result
            } catch {
                close()
                group.cancelAll()
                throw error
            }
        }
    }
}
