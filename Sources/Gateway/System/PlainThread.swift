import Glibc

/// Starts plain, detached POSIX threads: never threads of Swift's cooperative pool, and never
/// ended by it (the supervisor's thread must outlive its workers: their parent-death signal
/// follows the thread that started them).
enum PlainThread {
    private final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a detached thread named `name` (at most 15 bytes show) running `body`.
    /// - Throws: ``GatewayError`` `startFailed`.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let start = Unmanaged.passRetained(Start(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            &attributes,
            { argument in
                let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
                start.body()
                return nil
            },
            start
        )
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw GatewayError(.startFailed, "Starting thread \(name) failed: \(SystemCalls.describe(result)).")
        }
    }
}
