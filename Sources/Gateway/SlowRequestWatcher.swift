import ASGI
import ServiceLifecycle

/// Runs a ``SlowRequestLog``'s watcher for as long as the HTTP server serves.
///
/// Listed before the HTTP server in the service group, so a graceful shutdown (which ends services
/// in reverse order) stops it only after the server has finished its in-flight requests.
struct SlowRequestWatcher: Service {
    let log: SlowRequestLog

    func run() async throws {
        await cancelWhenGracefulShutdown { await log.watch() }
    }
}
