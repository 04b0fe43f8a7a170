import Foundation
import Synchronization
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

/// A one-shot event that both sync code (on a non-pool thread) and async code can wait for.
final class Gate: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    private let condition = NSCondition()

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        condition.lock()
        condition.broadcast()
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    var isOpen: Bool { state.withLock { $0.open } }

    /// Blocks the calling (non-cooperative) thread until the gate opens.
    func waitBlocking() {
        condition.lock()
        while !isOpen { condition.wait() }
        condition.unlock()
    }

    /// Blocks until the gate opens or `seconds` pass; whether it opened.
    func waitBlocking(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !isOpen {
            if !condition.wait(until: deadline) { return isOpen }
        }
        return true
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

/// A thread-safe log of values.
final class Recorder<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ item: T) { items.withLock { $0.append(item) } }
    var values: [T] { items.withLock { $0 } }
}

/// A thread-safe counter that also remembers its peak.
final class Concurrency: Sendable {
    private let state = Mutex((current: 0, peak: 0))
    func enter() { state.withLock { $0.current += 1; $0.peak = max($0.peak, $0.current) } }
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
