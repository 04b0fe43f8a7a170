import Foundation

/// Runs blocking test I/O (raw sockets) on its own thread, not on the cooperative pool.
package func offPool<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
