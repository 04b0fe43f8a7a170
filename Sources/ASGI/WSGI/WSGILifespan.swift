/// Startup and shutdown hooks for a WSGI-style application served through ``WSGIToASGI``.
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
