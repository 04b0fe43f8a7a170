import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

@Suite("Thread affinity")
struct ThreadAffinityTests {
    /// Ports asgiref `test_thread_sensitive_outside_sync`: with a sync outermost layer, thread-sensitive
    /// calls, including one made from a child task, run on the original sync thread.
    @Test func threadSensitiveCallsComeBackToTheOuterSyncThread() async throws {
        let (outer, direct, fromChild) = try await onNewThread { () throws -> (UInt, UInt, UInt) in
            let outer = threadID()
            let (direct, fromChild) = try AsyncToSync.run { () async throws -> (UInt, UInt) in
                let direct = try await SyncToAsync.run { threadID() }
                let fromChild = try await withThrowingTaskGroup(of: UInt.self) { group in
                    group.addTask { try await SyncToAsync.run { threadID() } }
                    return try await group.next()!
                }
                return (direct, fromChild)
            }
            return (outer, direct, fromChild)
        }
        #expect(direct == outer)
        #expect(fromChild == outer)
    }

    /// Ports asgiref `test_thread_sensitive_outside_async`: with an async outermost layer, a
    /// thread-sensitive call made through sync → async → sync and a direct one share one thread,
    /// which is not a cooperative-pool thread.
    @Test func asyncOutermostCallsShareOneSensitiveThread() async throws {
        try await ThreadSensitiveContext.run {
            async let nested: (UInt, Bool) = SyncToAsync.run {
                try AsyncToSync.run {
                    try await SyncToAsync.run { (threadID(), isInsideTask()) }
                }
            }
            async let direct: (UInt, Bool) = SyncToAsync.run { (threadID(), isInsideTask()) }
            let (a, b) = try await (nested, direct)
            #expect(a.0 == b.0)
            #expect(a.1 == false && b.1 == false)
        }
    }

    /// Ports asgiref `test_thread_sensitive_double_nested_sync`: sync → async → sync → async → sync,
    /// the innermost sync code runs on the original thread.
    @Test func doubleNestedSyncRunsOnTheOriginalThread() async throws {
        let (outer, innermost) = try await onNewThread { () throws -> (UInt, UInt) in
            let innermost = try AsyncToSync.run {
                try await SyncToAsync.run {
                    try AsyncToSync.run {
                        try await SyncToAsync.run { threadID() }
                    }
                }
            }
            return (threadID(), innermost)
        }
        #expect(innermost == outer)
    }

    /// Ports asgiref `test_thread_sensitive_double_nested_async`: async → sync → async → sync → async,
    /// the innermost async code runs on the thread of the outermost sync body (no new threads).
    @Test func doubleNestedAsyncStaysOnOneThread() async throws {
        try await ThreadSensitiveContext.run {
            let (outerSync, innerSync, innermostAsync) = try await SyncToAsync.run { () throws -> (UInt, UInt, UInt) in
                let outerSync = threadID()
                let (innerSync, innermostAsync) = try AsyncToSync.run {
                    try await SyncToAsync.run { () throws -> (UInt, UInt) in
                        let innerSync = threadID()
                        let innermostAsync = try AsyncToSync.run { () async -> UInt in
                            await Task.yield()
                            return threadID()
                        }
                        return (innerSync, innermostAsync)
                    }
                }
                return (outerSync, innerSync, innermostAsync)
            }
            #expect(innerSync == outerSync)
            #expect(innermostAsync == outerSync)
        }
    }

    /// Ports asgiref `test_sync_to_async_within_create_task`: inside a thread-sensitive context, sync
    /// middleware → async view → a timeout-wrapped child task → a thread-sensitive call runs on the
    /// middleware's thread (asgiref #249/#348 deadlocked here).
    @Test func threadSensitiveCallInsideATimeoutChildFindsTheMiddlewareThread() async throws {
        try await ThreadSensitiveContext.run {
            let (middleware, view) = try await SyncToAsync.run { () throws -> (UInt, UInt) in
                let middleware = threadID()
                let view = try AsyncToSync.run {
                    try await withTimeout(.seconds(30)) {
                        try await Task { try await SyncToAsync.run { threadID() } }.value
                    }
                }
                return (middleware, view)
            }
            #expect(view == middleware)
        }
    }

    /// Ports asgiref `test_nested_task`: a task spawned inside a nested bridge outlives it; its
    /// thread-sensitive call falls back to the live outer executor and completes.
    @Test func taskOutlivingItsBridgeFallsBackToTheOuterExecutor() async throws {
        let (outer, ranOn) = try await onNewThread { () throws -> (UInt, UInt) in
            let ranOn = try AsyncToSync.run { () async throws -> UInt in
                let release = Gate()
                let task = try await SyncToAsync.run { () throws -> Task<UInt, any Error> in
                    try AsyncToSync.run {
                        Task {
                            await release.wait()
                            return try await SyncToAsync.run { threadID() }
                        }
                    }
                }
                release.open()
                return try await task.value
            }
            return (threadID(), ranOn)
        }
        #expect(ranOn == outer)
    }

    /// Ports asgiref `test_nested_task_later` and `test_double_nested_task`: two levels of bridges
    /// that have all returned before the spawned task makes its call.
    @Test func taskOutlivingTwoBridgesStillCompletes() async throws {
        let (outer, ranOn) = try await onNewThread { () throws -> (UInt, UInt) in
            let ranOn = try AsyncToSync.run { () async throws -> UInt in
                let release = Gate()
                let task = try await SyncToAsync.run { () throws -> Task<UInt, any Error> in
                    try AsyncToSync.run {
                        try await SyncToAsync.run { () throws -> Task<UInt, any Error> in
                            try AsyncToSync.run {
                                Task {
                                    await release.wait()
                                    return try await SyncToAsync.run { threadID() }
                                }
                            }
                        }
                    }
                }
                release.open()
                return try await task.value
            }
            return (threadID(), ranOn)
        }
        #expect(ranOn == outer)
    }

    /// Bridge state never leaks into the next request: a task created from inside a request's
    /// `asyncToSync` body (as an HTTP server creates the next request's task from the current one's
    /// `send`) runs after that executor has finished, and its thread-sensitive calls succeed.
    /// asgiref 3.13 under uvicorn keep-alive fails every second request with "CurrentThreadExecutor
    /// already quit or is broken".
    @Test func finishedExecutorIsNeverUsedByTheNextRequest() async throws {
        let handOff = Gate()
        let nextRequest = Recorder<Task<[Int], any Error>>()
        let first = try await onNewThread {
            try AsyncToSync.run { () async throws -> Int in
                let value = try await SyncToAsync.run { 1 }
                // The "server" starts the next keep-alive request from inside this one.
                nextRequest.append(
                    Task {
                        await handOff.wait()
                        var results: [Int] = []
                        for index in 0..<10 {
                            results.append(try await SyncToAsync.run { index })
                        }
                        return results
                    }
                )
                return value
            }
        }
        #expect(first == 1)
        handOff.open()
        let results = try await nextRequest.values[0].value
        #expect(results == Array(0..<10))
    }

    /// Ports asgiref `test_async_to_sync_with_stopped_main_loop`: a wrapper called from another
    /// thread after the executor that was current when it was built has finished does not hang.
    @Test func wrapperCalledAfterItsExecutorFinishedFallsBack() async throws {
        let wrapper = try await onNewThread {
            try AsyncToSync.run { () async -> @Sendable () throws -> Int in
                asyncToSync { () async throws -> Int in try await SyncToAsync.run { 42 } }
            }
        }
        #expect(try await onNewThread { try wrapper() } == 42)
    }

    /// 1,000 concurrent thread-sensitive calls from different tasks complete without deadlock, one
    /// at a time, on one thread, in the order they were queued.
    @Test func thousandConcurrentThreadSensitiveCallsCompleteInOrder() async throws {
        let (owner, order, threads, peak) = try await onNewThread { () throws -> (UInt, [Int], Set<UInt>, Int) in
            let order = Recorder<Int>()
            let threads = Recorder<UInt>()
            let concurrency = Concurrency()
            try AsyncToSync.run {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<1_000 {
                        group.addTask {
                            try await SyncToAsync.run {
                                concurrency.enter()
                                order.append(index)
                                threads.append(threadID())
                                concurrency.leave()
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            return (threadID(), order.values, Set(threads.values), concurrency.peak)
        }
        #expect(order == Array(0..<1_000))
        #expect(threads == [owner])
        #expect(peak == 1)
    }

    /// The same from unrelated top-level tasks through the process-wide sensitive thread: all
    /// complete, one at a time, on a single thread.
    @Test func thousandThreadSensitiveCallsFromUnrelatedTasks() async throws {
        let threads = Recorder<UInt>()
        let concurrency = Concurrency()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<1_000 {
                group.addTask {
                    try await Task.detached {
                        try await SyncToAsync.run {
                            concurrency.enter()
                            threads.append(threadID())
                            concurrency.leave()
                            return index
                        }
                    }.value
                }
            }
            let total = try await group.reduce(0, +)
            #expect(total == (0..<1_000).reduce(0, +))
        }
        #expect(Set(threads.values).count == 1)
        #expect(concurrency.peak == 1)
    }
}
