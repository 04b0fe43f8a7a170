import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

@Suite("syncToAsync")
struct SyncToAsyncTests {
    /// Ports asgiref `test_sync_to_async`: the value comes back; two concurrent thread-sensitive
    /// calls are serialised on one thread.
    @Test func returnsValueAndSerialisesThreadSensitiveCalls() async throws {
        try await ThreadSensitiveContext.run {
            let concurrency = Concurrency()
            let threads = Recorder<UInt>()
            let started = Gate()
            let release = Gate()
            async let first: Int = SyncToAsync.run {
                concurrency.enter()
                threads.append(threadID())
                started.open()
                release.waitBlocking()
                concurrency.leave()
                return 42
            }
            await started.wait()
            async let second: Int = SyncToAsync.run {
                concurrency.enter()
                threads.append(threadID())
                concurrency.leave()
                return 43
            }
            // The second call is queued behind the first, not running beside it.
            let lane = try #require(BridgeState.current.sensitiveLane)
            while lane.thread.queue.count < 1 { await Task.yield() }
            release.open()
            #expect(try await first == 42)
            #expect(try await second == 43)
            #expect(concurrency.peak == 1)
            #expect(Set(threads.values).count == 1)
        }
    }

    /// Ports asgiref `test_sync_to_async_decorator`: the wrapper form works.
    @Test func wrapperForm() async throws {
        let add = syncToAsync { (a: Int, b: Int) in a + b }
        #expect(try await add(40, 3) == 43)
        let constant = syncToAsync(threadSensitive: false) { 44 }
        #expect(try await constant() == 44)
    }

    /// The body never runs on the caller's cooperative-pool thread.
    @Test func bodyRunsOffTheCooperativePool() async throws {
        let insideTask = try await SyncToAsync.run { isInsideTask() }
        #expect(insideTask == false)
        let insideTaskPool = try await SyncToAsync.run(threadSensitive: false) { isInsideTask() }
        #expect(insideTaskPool == false)
    }

    /// Errors thrown by the sync body reach the async caller unchanged (type and value).
    @Test(arguments: [true, false])
    func errorsArriveUnchanged(threadSensitive: Bool) async throws {
        let error = await #expect(throws: PayloadError.self) {
            try await SyncToAsync.run(threadSensitive: threadSensitive) { () throws -> Int in
                throw PayloadError(code: 7, message: "from sync")
            }
        }
        #expect(error == PayloadError(code: 7, message: "from sync"))
    }

    /// Ports asgiref `test_sync_to_async_uses_executor`: a custom executor is used exactly once, and
    /// an executor together with thread-sensitive mode is rejected with a clear error.
    @Test func customExecutorIsUsedOnceAndRejectedWhenThreadSensitive() async throws {
        final class CountingExecutor: BlockingExecutor {
            let count = Recorder<Int>()
            func execute(_ work: @escaping @Sendable () -> Void) throws {
                count.append(1)
                Thread { work() }.start()
            }
        }
        let executor = CountingExecutor()
        let value = try await SyncToAsync.run(threadSensitive: false, executor: executor) { 42 }
        #expect(value == 42)
        #expect(executor.count.values.count == 1)

        await #expect(throws: BridgeError.executorWithThreadSensitive) {
            try await SyncToAsync.run(threadSensitive: true, executor: executor) { 1 }
        }
        #expect(executor.count.values.count == 1)
        #expect(BridgeError.executorWithThreadSensitive.description.contains("threadSensitive: false"))
    }

    /// Ports asgiref `test_sync_to_async_deadlock_ignored_with_exception`: failing thread-sensitive
    /// calls leave no state behind that trips deadlock detection later.
    @Test func failingCallsDoNotTripDeadlockDetection() async throws {
        for _ in 0..<2 {
            await #expect(throws: PayloadError.self) {
                try await SyncToAsync.run { () throws -> Int in throw PayloadError(code: 1, message: "x") }
            }
        }
        #expect(try await SyncToAsync.run { 3 } == 3)
    }

    /// Ports asgiref `test_sync_to_async_with_blocker_non_thread_sensitive`: a non-thread-sensitive
    /// waiter and a thread-sensitive setter do not block each other.
    @Test func nonThreadSensitiveBlockerCompletes() async throws {
        let event = Gate()
        async let waiter: Int = SyncToAsync.run(threadSensitive: false) {
            event.waitBlocking()
            return 42
        }
        try await SyncToAsync.run { event.open() }
        #expect(try await waiter == 42)
    }

    /// Ports asgiref `test_sync_to_async_with_blocker_thread_sensitive` (an xfail there): call A holds
    /// the only sensitive thread waiting for an event only call B, queued behind it, would set. This
    /// cannot be served; it is a documented limitation, and the caller can bound it with `withTimeout`:
    /// B times out, and since it never started it is skipped rather than run late once A is done.
    @Test func threadSensitiveBlockerIsALimitationBoundedByTimeout() async throws {
        try await ThreadSensitiveContext.run { () async throws in
            let event = Gate()
            let aStarted = Gate()
            let ran = Recorder<String>()
            async let a: Bool = SyncToAsync.run {
                aStarted.open()
                return event.waitBlocking(limit: .seconds(120))
            }
            await aStarted.wait()
            await #expect(throws: TimeoutError.self) {
                try await withTimeout(.milliseconds(50)) {
                    try await SyncToAsync.run {
                        ran.append("B")
                        event.open()
                    }
                }
            }
            // A still waits (B was never served): free it from here.
            event.open()
            #expect(try await a == true)
            // Whatever was queued behind A has been dealt with once this runs: B was skipped.
            try await SyncToAsync.run { ran.append("C") }
            #expect(ran.values == ["C"])
        }
    }

    /// A sync body that blocks on a task which makes a thread-sensitive call back to the body's own
    /// thread gets `BridgeError.wouldDeadlock` in that task instead of hanging.
    @Test func threadSensitiveReentryThroughABlockedThreadThrowsWouldDeadlock() async throws {
        try await ThreadSensitiveContext.run {
            let outcome = try await SyncToAsync.run { () -> String in
                let done = Gate()
                let result = Recorder<String>()
                Task {
                    do {
                        _ = try await SyncToAsync.run { 1 }
                        result.append("ran")
                    } catch let error as BridgeError {
                        result.append(error.code.description)
                    }
                    done.open()
                }
                done.waitBlocking()
                return result.values.first ?? "none"
            }
            #expect(outcome == "wouldDeadlock")
        }
        #expect(BridgeError.wouldDeadlock.description.contains("deadlock"))
    }

    /// `threadSensitive: false` runs on a pool thread different from the caller's thread.
    /// Ports asgiref `test_thread_sensitive_disabled`.
    @Test func threadSensitiveDisabledRunsOnAnotherThread() async throws {
        let (outer, inner) = try await onNewThread { () throws -> (UInt, UInt) in
            let outer = threadID()
            let inner = try AsyncToSync.run {
                try await SyncToAsync.run(threadSensitive: false) { threadID() }
            }
            return (outer, inner)
        }
        #expect(outer != inner)
    }

    /// 10,000 concurrent calls through a 4-thread pool all complete, on at most 4 threads.
    @Test func tenThousandPoolCallsUseAtMostThePoolsThreads() async throws {
        let pool = BlockingThreadPool(threads: 4, queueLimit: nil, name: "test-pool")
        defer { pool.shutdown() }
        let threads = Recorder<UInt>()
        let sum = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<10_000 {
                group.addTask {
                    try await SyncToAsync.run(threadSensitive: false, executor: pool) {
                        threads.append(threadID())
                        return index
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(sum == (0..<10_000).reduce(0, +))
        #expect(threads.values.count == 10_000)
        #expect(Set(threads.values).count <= 4)
        #expect(pool.startedThreads == 4)
    }

    /// A full pool queue fails the call with a clear error instead of growing without bound.
    @Test func fullPoolQueueIsAClearError() async throws {
        let pool = BlockingThreadPool(threads: 1, queueLimit: 1, name: "test-full")
        defer { pool.shutdown() }
        let release = Gate()
        let running = Gate()
        async let busy: Void = SyncToAsync.run(threadSensitive: false, executor: pool) {
            running.open()
            release.waitBlocking()
        }
        await running.wait()
        async let queued: Int = SyncToAsync.run(threadSensitive: false, executor: pool) { 1 }
        // The queue holds one item; wait until the second call occupies it.
        while pool.queue.count < 1 { await Task.yield() }
        await #expect(throws: BridgeError.queueFull) {
            try await SyncToAsync.run(threadSensitive: false, executor: pool) { 2 }
        }
        release.open()
        try await busy
        #expect(try await queued == 1)
    }
}
