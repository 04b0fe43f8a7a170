import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

/// The bridge when the process is busy: executors finishing under new work, pools whose every
/// thread waits on nested calls, and many thread-sensitive requests at once.
@Suite("Bridge under stress")
struct StressTests {
    /// A task that inherited an `asyncToSync` executor whose operation has returned while its queue
    /// still drains (a server starting the next keep-alive request from the current one) makes a
    /// thread-sensitive call: the finishing executor is not offered the call, so the call is neither
    /// refused by it nor retried on it (a retry loop would spin on a cooperative thread until the
    /// queue drains); it runs elsewhere at once, while the executor's thread is still busy.
    @Test func finishingExecutorIsNotLiveForNewWork() async throws {
        let blockerStarted = Gate()
        let callDone = Gate()
        let (executorThread, late, refusedWhileDraining) = try await onNewThread {
            () throws -> (UInt, Task<UInt, any Error>, Int) in
            let refused = Recorder<Int>()
            let late = try AsyncToSync.run { () -> Task<UInt, any Error> in
                let executor = try #require(BridgeState.current.executor)
                // Queued behind the operation: the executor's thread runs it after the operation
                // returned, while the executor is finishing.
                let queued = executor.queue.push(
                    .item(
                        ClosureWork {
                            blockerStarted.open()
                            // Hold the queue until the late call completed elsewhere; should it be retried
                            // on this executor instead, its refusals pile up, and the queue is let go so
                            // that the test ends and fails instead of hanging.
                            let deadline = Date(timeIntervalSinceNow: 120)
                            while !callDone.waitBlocking(limit: .seconds(0.005)) {
                                if executor.queue.refusedPushes > 100 || Date() > deadline { break }
                            }
                            refused.append(executor.queue.refusedPushes)
                        }
                    )
                )
                #expect(queued == .queued)
                return Task {
                    await blockerStarted.wait()
                    #expect(executor.queue.acceptsWork == false)
                    defer { callDone.open() }
                    return try await SyncToAsync.run { threadID() }
                }
            }
            // Alive until the late call ends, so that no thread made meanwhile reuses its id.
            callDone.waitBlocking()
            return (threadID(), late, refused.values.first ?? -1)
        }
        let ranOn = try await late.value
        #expect(refusedWhileDraining == 0, "the late call was retried on the finishing executor")
        #expect(ranOn != executorThread)
    }

    // MARK: Nested calls on a starved pool

    /// sync → async → sync on a one-thread pool: the nested call needs the pool while its only
    /// thread waits for that call (asgiref deadlocks here, silently). It runs on the waiting thread.
    @Test func nestedCallOnAOneThreadPoolRunsOnTheWaitingThread() async throws {
        let pool = BlockingThreadPool(threads: 1, name: "test-nest-1")
        defer { pool.shutdown() }
        let (outer, inner) = try await withTimeout(.seconds(120)) {
            try await SyncToAsync.run(threadSensitive: false, executor: pool) { () throws -> (UInt, UInt) in
                let inner = try AsyncToSync.run {
                    try await SyncToAsync.run(threadSensitive: false, executor: pool) { threadID() }
                }
                return (threadID(), inner)
            }
        }
        #expect(inner == outer)
    }

    /// Three levels (sync → async → sync → async → sync) on a one-thread pool, through the shared
    /// default executor form and the wrapper form: every level is served, each on the one thread.
    @Test func deeplyNestedCallsOnAOneThreadPoolComplete() async throws {
        let pool = BlockingThreadPool(threads: 1, name: "test-nest-deep")
        defer { pool.shutdown() }
        let innermost = syncToAsync(threadSensitive: false, executor: pool) { (x: Int) in (x + 1, threadID()) }
        let threads = try await withTimeout(.seconds(120)) {
            try await SyncToAsync.run(threadSensitive: false, executor: pool) { () throws -> [UInt] in
                let (middle, inner) = try AsyncToSync.run { () async throws -> (UInt, UInt) in
                    try await SyncToAsync.run(threadSensitive: false, executor: pool) { () throws -> (UInt, UInt) in
                        let (value, thread) = try AsyncToSync.run { try await innermost(41) }
                        #expect(value == 42)
                        return (threadID(), thread)
                    }
                }
                return [threadID(), middle, inner]
            }
        }
        #expect(Set(threads).count == 1)
    }

    /// Both threads of a two-thread pool run a request that nests a pool call while the other
    /// request also holds its thread: each nested call runs on its own request's waiting thread,
    /// with the request's `Local` values, and its changes come back to the request.
    @Test func nestedCallsFromEveryBusyThreadOfAPoolAreServed() async throws {
        let pool = BlockingThreadPool(threads: 2, name: "test-nest-2")
        defer { pool.shutdown() }
        let local = Local<Int>()
        let arrived = Concurrency()
        let bothBusy = Gate()
        let nestedArrived = Concurrency()
        let bothNested = Gate()
        let results = try await withTimeout(.seconds(120)) {
            try await withThrowingTaskGroup(of: (outer: UInt, inner: UInt, seen: Int?, after: Int?).self) { group in
                for request in 0..<2 {
                    group.addTask {
                        try await local.withValue(request) {
                            try await SyncToAsync.run(threadSensitive: false, executor: pool) {
                                () throws -> (outer: UInt, inner: UInt, seen: Int?, after: Int?) in
                                arrived.enter()
                                if arrived.peak == 2 { bothBusy.open() }
                                bothBusy.waitBlocking()
                                let (inner, seen, after) = try AsyncToSync.run { () async throws -> (UInt, Int?, Int?) in
                                    let (inner, seen) = try await SyncToAsync.run(threadSensitive: false, executor: pool) {
                                        () throws -> (UInt, Int?) in
                                        // Both nested calls run at once: neither request's thread
                                        // is free meanwhile, so neither could serve the other's.
                                        nestedArrived.enter()
                                        if nestedArrived.peak == 2 { bothNested.open() }
                                        #expect(bothNested.waitBlocking(limit: .seconds(120)))
                                        let seen = local.value
                                        try local.set(100 + request)
                                        return (threadID(), seen)
                                    }
                                    return (inner, seen, local.value)
                                }
                                return (threadID(), inner, seen, after)
                            }
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(results.count == 2)
        for result in results {
            #expect(result.inner == result.outer)
            #expect(result.seen.map { $0 + 100 } == result.after)
        }
        #expect(Set(results.map(\.outer)).count == 2)
    }

    /// A nested call still goes to the pool when one of its threads is idle (asgiref
    /// `test_thread_sensitive_disabled`: a non-thread-sensitive call runs on another thread).
    @Test func nestedCallUsesAnIdlePoolThread() async throws {
        let pool = BlockingThreadPool(threads: 2, name: "test-nest-idle")
        defer { pool.shutdown() }
        // Start the threads and wait (polling, generous deadline) until both have gone idle.
        _ = try await SyncToAsync.run(threadSensitive: false, executor: pool) { 0 }
        let deadline = ContinuousClock.now + .seconds(60)
        while pool.queue.idleThreads < 2 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(pool.queue.idleThreads == 2)
        let (outer, inner) = try await withTimeout(.seconds(120)) {
            try await SyncToAsync.run(threadSensitive: false, executor: pool) { () throws -> (UInt, UInt) in
                let inner = try AsyncToSync.run {
                    try await SyncToAsync.run(threadSensitive: false, executor: pool) { threadID() }
                }
                return (threadID(), inner)
            }
        }
        #expect(inner != outer)
    }

    /// A nested call served on the waiting thread is still cancellable: cancelling the request
    /// reaches the nested body (it sees `isCancelled`), and the request gets `CancellationError`.
    @Test func nestedCallOnTheWaitingThreadSeesCancellation() async throws {
        let pool = BlockingThreadPool(threads: 1, name: "test-nest-cancel")
        defer { pool.shutdown() }
        let nestedRunning = Gate()
        let sawCancellation = Recorder<Bool>()
        let request = Task {
            try await SyncToAsync.run(threadSensitive: false, executor: pool) {
                try AsyncToSync.run {
                    try await SyncToAsync.run(threadSensitive: false, executor: pool) {
                        nestedRunning.open()
                        let deadline = Date(timeIntervalSinceNow: 120)
                        while !SyncToAsync.isCancelled && Date() < deadline { usleep(1_000) }
                        sawCancellation.append(SyncToAsync.isCancelled)
                    }
                }
            }
        }
        // Polled with a generous deadline, so that a pool that never serves the nested call fails
        // the test instead of hanging it.
        let deadline = ContinuousClock.now + .seconds(120)
        while !nestedRunning.isOpen && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        try #require(nestedRunning.isOpen, "the nested call never ran")
        request.cancel()
        await #expect(throws: CancellationError.self) { try await request.value }
        // The pool is free again once the nested body returned.
        #expect(
            try await withTimeout(.seconds(120)) {
                try await SyncToAsync.run(threadSensitive: false, executor: pool) { 5 }
            } == 5
        )
        #expect(sawCancellation.values == [true])
    }

    // MARK: Bounded thread-sensitive contexts

    /// Eight concurrent contexts under a limit of two: at most two hold a thread at once, the
    /// others wait (none fails), and all complete once threads come back.
    @Test func contextsPastTheLimitWaitForAThread() async throws {
        let limit = ContextThreadLimit(limit: 2)
        let holding = Concurrency()
        let release = Gate()
        let threads = Recorder<UInt>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await ThreadSensitiveContext.run(limitedBy: limit) {
                        try await SyncToAsync.run {
                            holding.enter()
                            threads.append(threadID())
                            release.waitBlocking()
                            holding.leave()
                        }
                    }
                }
            }
            // Two contexts hold threads and six wait (polled with a generous deadline).
            let deadline = ContinuousClock.now + .seconds(60)
            while (limit.waiting < 6 || threads.values.count < 2) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(limit.inUse == 2)
            #expect(limit.waiting == 6)
            #expect(threads.values.count == 2)
            release.open()
            try await group.waitForAll()
        }
        #expect(holding.peak == 2)
        #expect(threads.values.count == 8)
        // Every permit comes back once the threads have drained (from the threads themselves).
        let deadline = ContinuousClock.now + .seconds(60)
        while limit.inUse > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        #expect(limit.inUse == 0)
    }

    /// A context cancelled while it waits for a thread stops waiting at once: its body runs without
    /// a thread of its own and its bridge calls throw `CancellationError`, while the context that
    /// holds the only thread is undisturbed.
    @Test func contextCancelledWhileWaitingStopsWaiting() async throws {
        let limit = ContextThreadLimit(limit: 1)
        let release = Gate()
        let holding = Gate()
        let holder = Task {
            try await ThreadSensitiveContext.run(limitedBy: limit) {
                try await SyncToAsync.run {
                    holding.open()
                    release.waitBlocking()
                    return 1
                }
            }
        }
        await holding.wait()
        let bodyRan = Recorder<Bool>()
        let waiter = Task {
            try await ThreadSensitiveContext.run(limitedBy: limit) {
                bodyRan.append(BridgeState.current.sensitiveLane == nil)
                return try await SyncToAsync.run { 2 }
            }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while limit.waiting < 1 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(bodyRan.values == [true])
        #expect(limit.waiting == 0)
        release.open()
        #expect(try await holder.value == 1)
    }

    /// A nested context waits for nothing (it uses the outer thread), even at the limit.
    @Test func nestedContextAtTheLimitUsesTheOuterThread() async throws {
        let limit = ContextThreadLimit(limit: 1)
        let (outer, inner) = try await ThreadSensitiveContext.run(limitedBy: limit) {
            let outer = try await SyncToAsync.run { threadID() }
            let inner = try await ThreadSensitiveContext.run(limitedBy: limit) {
                try await SyncToAsync.run { threadID() }
            }
            return (outer, inner)
        }
        #expect(outer == inner)
    }

    /// Raising the limit serves waiting contexts at once; the public knob reads the shared limit.
    @Test func raisingTheLimitServesWaiters() async throws {
        let limit = ContextThreadLimit(limit: 1)
        let release = Gate()
        let holding = Gate()
        let holder = Task {
            try await ThreadSensitiveContext.run(limitedBy: limit) {
                try await SyncToAsync.run {
                    holding.open()
                    release.waitBlocking()
                }
            }
        }
        await holding.wait()
        let waiter = Task { try await ThreadSensitiveContext.run(limitedBy: limit) { try await SyncToAsync.run { 3 } } }
        let deadline = ContinuousClock.now + .seconds(60)
        while limit.waiting < 1 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        limit.limit = 2
        #expect(try await waiter.value == 3)
        release.open()
        try await holder.value
        #expect(ThreadSensitiveContext.threadLimit >= 1)
        #expect(ContextThreadLimit.defaultLimit == 64)
    }
}
