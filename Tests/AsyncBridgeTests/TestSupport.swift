import Foundation
import Synchronization
import TestSupport
import Testing

@testable import AsyncBridge

/// The calling thread's identity, for "which thread ran this" assertions.
func threadID() -> UInt {
    UInt(pthread_self())
}

/// Runs `body` on a new plain `Thread` (not created by the library) and returns its result.
func onNewThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

/// A thread-safe counter that also remembers its peak.
final class Concurrency: Sendable {
    private let state = Mutex((current: 0, peak: 0))
    func enter() {
        state.withLock {
            $0.current += 1
            $0.peak = max($0.peak, $0.current)
        }
    }
    func leave() { state.withLock { $0.current -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
}

/// An error with a payload, to check errors cross the bridge unchanged.
struct PayloadError: Error, Equatable {
    let code: Int
    let message: String
}

/// A sync helper that calls `AsyncToSync.run` indirectly (the compiler cannot see the misuse).
func indirectAsyncToSync() throws -> Int {
    try AsyncToSync.run { 1 }
}
