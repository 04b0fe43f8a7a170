package import AsyncBridge
package import Logging

/// Startup and shutdown hooks for a WSGI-style application, wherever it is served (``WSGIToASGI``,
/// the FastCGI server).
///
/// They run on a blocking thread when the server sends `lifespan.startup` / `lifespan.shutdown`;
/// a hook that throws reports `lifespan.startup.failed` (the server then stops with the message) or
/// `lifespan.shutdown.failed`.
public struct WSGILifespan: Sendable {
    /// Runs before the first request (open pools, warm caches).
    public var startup: (@Sendable () throws -> Void)?
    /// Runs after the last request (flush, close).
    public var shutdown: (@Sendable () throws -> Void)?

    /// Creates hooks.
    public init(startup: (@Sendable () throws -> Void)? = nil, shutdown: (@Sendable () throws -> Void)? = nil) {
        self.startup = startup
        self.shutdown = shutdown
    }
}

extension WSGILifespan {
    /// Serves a `lifespan` scope with these hooks, each on a blocking thread (``WSGIToASGI`` and the
    /// FastCGI server serve WSGI-style applications' lifespans with it).
    package func serve(receive: @escaping Receive, send: @escaping Send, executor: (any BlockingExecutor)?, logger: Logger) async throws {
        while true {
            switch try await receive() {
            case .lifespanStartup:
                let failure = await run(startup, executor: executor, logger: logger, phase: "startup")
                try await send(failure.map { .lifespanStartupFailed(message: $0) } ?? .lifespanStartupComplete)
                if failure != nil { return }
            case .lifespanShutdown:
                let failure = await run(shutdown, executor: executor, logger: logger, phase: "shutdown")
                try await send(failure.map { .lifespanShutdownFailed(message: $0) } ?? .lifespanShutdownComplete)
                return
            default:
                continue
            }
        }
    }

    /// Runs a hook on a blocking thread; its error's description, if it failed.
    private func run(_ hook: (@Sendable () throws -> Void)?, executor: (any BlockingExecutor)?, logger: Logger, phase: String) async -> String? {
        guard let hook else { return nil }
        do {
            try await SyncToAsync.run(threadSensitive: false, executor: executor, hook)
            return nil
        } catch {
            logger.error("WSGI \(phase) hook failed: \(String(describing: error))")
            return String(describing: error)
        }
    }

    /// These hooks as an ASGI application that serves only the `lifespan` scope.
    package func application(logger: Logger) -> any ASGIApplication {
        let hooks = self
        return ASGIApp { scope, receive, send in
            guard case .lifespan = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
            try await hooks.serve(receive: receive, send: send, executor: nil, logger: logger)
        }
    }
}
