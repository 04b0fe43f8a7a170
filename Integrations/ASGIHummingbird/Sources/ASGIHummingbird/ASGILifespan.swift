@_spi(ASGIFrontend) public import ASGI
public import Hummingbird
public import Logging
public import ServiceLifecycle

/// An ASGI application's lifespan run with a Hummingbird application's lifecycle:
/// `lifespan.startup` before the server accepts its first connection, `lifespan.shutdown` after
/// it stopped; the state the application fills reaches every mounted request's scope.
///
/// ```swift
/// let lifespan = ASGILifespan(app, logger: logger)
/// let router = Router()
/// router.mount("/legacy", app, lifespan: lifespan)
/// var application = Application(router: router)
/// application.addLifespan(lifespan)
/// try await application.runService()
/// ```
///
/// A failed startup (`lifespan.startup.failed`) stops the application with the application's
/// message; an application that does not handle lifespan scopes is served without one (the ASGI
/// spec's rule).
public final class ASGILifespan: Service, Sendable {
    private let runner: LifespanRunner

    /// A lifespan for `application`.
    public init(_ application: any ASGIApplication, logger: Logger = Logger(label: "asgi.hummingbird.lifespan")) {
        runner = LifespanRunner(application: application, mode: .auto, logger: logger)
    }

    /// The state copied into request scopes (`nil` before startup or when unsupported).
    var requestState: [String: ASGIValue]? {
        runner.requestState?.snapshot()
    }

    /// Sends `lifespan.startup` and waits for the answer.
    /// - Throws: ``ASGILifespanError`` with the application's message when startup failed.
    public func startup() async throws {
        do {
            try await runner.startup()
        } catch let failure as LifespanRunner.Failure {
            switch failure {
            case .startupFailed(let message): throw ASGILifespanError(.startupFailed, "Application startup failed: \(message)")
            case .lifespanFailed(let message): throw ASGILifespanError(.lifespanFailed, message)
            }
        }
    }

    /// Runs the application's lifespan call until a graceful shutdown, then sends
    /// `lifespan.shutdown` and waits for the answer.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runner.runApplication() }
            try? await gracefulShutdown()
            await runner.shutdown()
            runner.close()
            group.cancelAll()
        }
    }
}

extension Application {
    /// Runs `lifespan` with this application: startup before the server starts, shutdown after it
    /// stopped (its service shuts down after the server's).
    public mutating func addLifespan(_ lifespan: ASGILifespan) {
        addServices(lifespan)
        beforeServerStarts { try await lifespan.startup() }
    }
}
