import ASGI
import Logging
import Synchronization

/// Runs an application's `lifespan` scope around serving (ASGI lifespan spec 2.0, as uvicorn does).
///
/// The application's call runs in a task of its own for the server's whole life: it receives
/// `lifespan.startup` before the server listens and `lifespan.shutdown` after the last connection
/// closed. The state it fills is shallow-copied into every request scope.
final class LifespanRunner: Sendable {
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
    let mode: HTTPServerConfiguration.LifespanMode
    let logger: Logger
    let state = LifespanState()

    private let toApplication = Mailbox<ReceiveEvent>()
    private let fromApplication = Mailbox<Report>()
    private let phase = Mutex(Phase.idle)
    private let supported = Mutex(false)

    init(application: any ASGIApplication, mode: HTTPServerConfiguration.LifespanMode, logger: Logger) {
        self.application = application
        self.mode = mode
        self.logger = logger
    }

    /// The state to copy into request scopes: `nil` when lifespan is off or unsupported.
    var requestState: LifespanState? {
        supported.withLock { $0 } ? state : nil
    }

    /// The application's lifespan call; returns when the application returns (or is cancelled).
    func runApplication() async {
        let scope = Scope.lifespan(LifespanScope(state: state))
        do {
            try await application(
                scope: scope,
                receive: { [toApplication] in
                    guard let event = await toApplication.take() else { throw CancellationError() }
                    return event
                },
                send: { [self] event in try self.accept(event) }
            )
            fromApplication.put(.returned)
        } catch {
            fromApplication.put(.raised(String(describing: error)))
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
        fromApplication.put(.sent(event))
    }

    /// Sends `lifespan.startup` and waits for the answer.
    /// - Throws: ``HTTPServerError`` `lifespanStartupFailed` (with the application's message) or,
    ///   in mode `on`, `lifespanFailed` when the application raised.
    func startup() async throws {
        guard mode != .off else { return }
        phase.withLock { $0 = .startingUp }
        logger.info("Waiting for application startup.")
        toApplication.put(.lifespanStartup)
        guard let report = await fromApplication.take() else { throw CancellationError() }
        switch report {
        case .sent(.lifespanStartupComplete):
            supported.withLock { $0 = true }
            logger.info("Application startup complete.")
        case .sent(.lifespanStartupFailed(let message)):
            logger.error("Application startup failed: \(message)")
            throw HTTPServerError(.lifespanStartupFailed, "Application startup failed: \(message)")
        case .sent:
            throw HTTPServerError(.lifespanFailed, "The application answered lifespan.startup with an unexpected event.")
        case .raised(let message):
            if mode == .on {
                logger.error("Exception in 'lifespan' protocol: \(message)")
                throw HTTPServerError(.lifespanFailed, "The application raised on the lifespan scope: \(message)")
            }
            logger.info("ASGI 'lifespan' protocol appears unsupported (\(message)); serving without it.")
        case .returned:
            if mode == .on {
                throw HTTPServerError(.lifespanFailed, "The application returned from the lifespan scope without answering lifespan.startup.")
            }
            logger.info("ASGI 'lifespan' protocol appears unsupported (the application returned); serving without it.")
        }
    }

    /// Sends `lifespan.shutdown` (if startup completed) and waits for the answer; failures are logged.
    func shutdown() async {
        guard supported.withLock({ $0 }) else { return }
        phase.withLock { $0 = .shuttingDown }
        logger.info("Waiting for application shutdown.")
        toApplication.put(.lifespanShutdown)
        guard let report = await fromApplication.take() else { return }
        switch report {
        case .sent(.lifespanShutdownFailed(let message)):
            logger.error("Application shutdown failed: \(message)")
        case .sent:
            logger.info("Application shutdown complete.")
        case .raised(let message):
            logger.error("Exception in 'lifespan' protocol during shutdown: \(message)")
        case .returned:
            logger.info("Application shutdown complete.")
        }
    }

    /// Lets a lifespan call that still waits for an event end.
    func close() {
        toApplication.close()
    }
}
