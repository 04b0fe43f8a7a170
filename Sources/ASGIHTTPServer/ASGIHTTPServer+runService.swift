import Logging
import ServiceLifecycle
public import UnixSignals

extension ASGIHTTPServer {
    /// Runs the server as the only service of a `ServiceGroup` that shuts it down gracefully on
    /// the given signals: the one-line `main` of a small executable.
    ///
    /// ```swift
    /// let server = ASGIHTTPServer(application: app, configuration: .init(port: 8080), logger: logger)
    /// try await server.runService()
    /// ```
    /// - Parameter gracefulShutdownSignals: signals that start a graceful shutdown (default SIGTERM, SIGINT).
    /// - Throws: what ``run()`` throws.
    public func runService(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [self],
                gracefulShutdownSignals: gracefulShutdownSignals,
                logger: logger
            )
        )
        try await group.run()
    }
}
