import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

/// Edge cases found in review, each pinned by a test.
@Suite("Bridge edge cases")
struct RegressionTests {
    /// Running a `CurrentThreadExecutor` again while it already runs is an error, not a crash.
    @Test func reenteringRunUntilThrows() async throws {
        let inner = try await onNewThread { () throws -> BridgeError? in
            let executor = CurrentThreadExecutor()
            return try executor.run {
                try await executor.submit { () -> BridgeError? in
                    do {
                        _ = try executor.run { 1 }
                        return nil
                    } catch let error as BridgeError {
                        return error
                    }
                }
            }
        }
        #expect(inner == .executorFinished)
    }

    /// Submitting to an executor that never ran (with no live executor above it) throws instead of
    /// queuing work nobody will run.
    @Test func submitToAnIdleExecutorThrows() async throws {
        let executor = try await onNewThread { CurrentThreadExecutor() }
        await #expect(throws: BridgeError.executorFinished) {
            try await executor.submit { 1 }
        }
    }

    /// Work run through a pool's public `execute` gets a scope of its own: what one job sets is not
    /// seen by a later job on the same thread.
    @Test func poolJobsDoNotShareLocals() async throws {
        let pool = BlockingThreadPool(threads: 1, name: "test-locals")
        defer { pool.shutdown() }
        let local = Local<String>()
        let seen = Recorder<String?>()
        for index in 0..<2 {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                try? pool.execute {
                    seen.append(local.value)
                    try? local.set("job \(index)")
                    continuation.resume()
                }
            }
        }
        #expect(seen.values == [nil, nil])
    }

    /// A sync body's `Local` changes made before it throws reach the caller (asgiref restores the
    /// context in `finally`), as they do for `asyncToSync`.
    @Test func localChangesBeforeAnErrorAreKept() async throws {
        let local = Local<String>()
        try await LocalScope.run {
            try local.set("before")
            await #expect(throws: PayloadError.self) {
                try await SyncToAsync.run {
                    try local.set("changed")
                    throw PayloadError(code: 1, message: "after the change")
                }
            }
            #expect(local.value == "changed")
        }
    }

    /// A task that outlived its `ThreadSensitiveContext` and opens a new one gets a thread of its own,
    /// not the closed context's lane nor the process thread.
    @Test func contextOpenedAfterTheOuterEndedGetsItsOwnThread() async throws {
        let release = Gate()
        let late = await ThreadSensitiveContext.run { () -> Task<(Bool, Bool), any Error> in
            Task {
                await release.wait()
                let lane = BridgeState.current.sensitiveLane
                return try await ThreadSensitiveContext.run {
                    let inner = try #require(BridgeState.current.sensitiveLane)
                    return (inner !== lane, inner !== SensitiveLane.process)
                }
            }
        }
        release.open()
        let (fresh, notProcess) = try await late.value
        #expect(fresh)
        #expect(notProcess)
    }

    /// Sequential `asyncToSync` calls on one thread reuse one executor when nothing else holds it
    /// once a call has returned (the thread's cache then holds it, so its address is not reused).
    @Test func sequentialCallsReuseAnUnreferencedExecutor() async throws {
        let (first, second, cached) = try await onNewThread { () throws -> (ObjectIdentifier, ObjectIdentifier, ObjectIdentifier?) in
            let first = try AsyncToSync.run { ObjectIdentifier(BridgeState.current.executor!) }
            let second = try AsyncToSync.run { ObjectIdentifier(BridgeState.current.executor!) }
            let cached = ExecutorCache.take(parent: nil).map(ObjectIdentifier.init)
            return (first, second, cached)
        }
        #expect(first == second)
        #expect(cached == first)
    }

    /// An executor that something still references after its call (here the caller keeps it) is
    /// never reused: it stays finished, refuses work, and the next call gets another executor.
    @Test func referencedExecutorIsNeverReused() async throws {
        let (held, next) = try await onNewThread { () throws -> (CurrentThreadExecutor, ObjectIdentifier) in
            let held = try AsyncToSync.run { BridgeState.current.executor! }
            let next = try AsyncToSync.run { ObjectIdentifier(BridgeState.current.executor!) }
            return (held, next)
        }
        #expect(ObjectIdentifier(held) != next)
        #expect(held.isFinished)
        await #expect(throws: BridgeError.executorFinished) {
            try await held.submit { 1 }
        }
    }

    /// A reused operation scope starts empty: thread-critical values a body's task set do not reach
    /// the next call's task.
    @Test func reusedScopeStartsEmpty() async throws {
        let critical = Local<Int>(threadCritical: true)
        let seen = try await onNewThread { () throws -> [Int?] in
            try (0..<3).map { index in
                try AsyncToSync.run { () async throws -> Int? in
                    let before = critical.value
                    try critical.set(index)
                    return before
                }
            }
        }
        #expect(seen == [nil, nil, nil])
    }

    /// A scope kept for reuse holds no values alive: once the caller drops a value a body set, the
    /// value is released.
    @Test func keptScopeDoesNotKeepValuesAlive() async throws {
        let local = Local<Payload>()
        let released = try await onNewThread { () throws -> Bool in
            try AsyncToSync.run { () async throws in
                try local.set(Payload())
            }
            weak let payload = local.value
            try local.set(nil)
            return payload == nil
        }
        #expect(released)
    }
}

private final class Payload: Sendable {}
