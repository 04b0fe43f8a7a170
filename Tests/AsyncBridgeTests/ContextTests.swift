import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

@Suite("ThreadSensitiveContext and AsyncSingleThreadContext")
struct ContextTests {
    /// Ports asgiref `test_thread_sensitive_with_context_matches`: inside one context, two concurrent
    /// thread-sensitive calls run on the same thread.
    @Test func callsInOneContextShareAThread() async throws {
        try await ThreadSensitiveContext.run {
            async let a = SyncToAsync.run { threadID() }
            async let b = SyncToAsync.run { threadID() }
            let (first, second) = try await (a, b)
            #expect(first == second)
        }
    }

    /// Ports asgiref `test_thread_sensitive_with_context_different` (test_sync_contextvars.py):
    /// two concurrent contexts run their thread-sensitive work on different threads.
    @Test func separateContextsUseSeparateThreads() async throws {
        let bothRunning = Gate()
        let arrivals = Recorder<Int>()
        @Sendable func request() async throws -> UInt {
            try await ThreadSensitiveContext.run {
                try await SyncToAsync.run {
                    arrivals.append(1)
                    if arrivals.values.count == 2 { bothRunning.open() }
                    // Both contexts' calls are running at once: they cannot share a thread.
                    bothRunning.waitBlocking()
                    return threadID()
                }
            }
        }
        async let a = request()
        async let b = request()
        let (first, second) = try await (a, b)
        #expect(first != second)
    }

    /// Ports asgiref `test_thread_sensitive_nested_context`: a nested context uses the outer one's thread.
    @Test func nestedContextReusesTheOuterThread() async throws {
        try await ThreadSensitiveContext.run {
            let outer = try await SyncToAsync.run { threadID() }
            let inner = try await ThreadSensitiveContext.run {
                try await SyncToAsync.run { threadID() }
            }
            #expect(inner == outer)
        }
    }

    /// Ports asgiref `test_thread_sensitive_context_without_sync_work`: an empty context is harmless.
    @Test func emptyContextIsHarmless() async throws {
        let value = await ThreadSensitiveContext.run { 5 }
        #expect(value == 5)
    }

    /// Context threads come from a bounded idle set: sequential contexts reuse threads.
    @Test func contextThreadsAreReused() async throws {
        var seen = Set<UInt>()
        for _ in 0..<50 {
            let thread = try await ThreadSensitiveContext.run { try await SyncToAsync.run { threadID() } }
            seen.insert(thread)
        }
        #expect(seen.count < 50)
    }

    /// Ports asgiref `test_thread_sensitive_context_exit_does_not_block_event_loop` and
    /// `…_does_not_starve_default_executor` (#535): leaving a context whose thread is still busy with
    /// the work of a cancelled caller returns at once and blocks no cooperative thread.
    @Test func leavingAContextWithBusyThreadDoesNotBlock() async throws {
        let release = Gate()
        let running = Gate()
        let requests = (0..<2).map { _ in
            Task {
                try await ThreadSensitiveContext.run {
                    try await SyncToAsync.run {
                        running.open()
                        release.waitBlocking()
                    }
                }
            }
        }
        await running.wait()
        for request in requests { request.cancel() }
        for request in requests {
            await #expect(throws: CancellationError.self) { try await request.value }
        }
        // The cooperative pool is free: more async and pool work completes while the threads are busy.
        #expect(try await SyncToAsync.run(threadSensitive: false) { 7 } == 7)
        release.open()
    }

    /// Ports asgiref `test_async_single_thread_context_matches`: two `asyncToSync` calls in one
    /// context run on the same dedicated thread, not the caller's.
    @Test func singleThreadContextRunsBodiesOnOneThread() async throws {
        let (caller, first, second) = try await onNewThread { () throws -> (UInt, UInt, UInt) in
            try AsyncSingleThreadContext.run {
                let first = try AsyncToSync.run { threadID() }
                let second = try AsyncToSync.run { threadID() }
                return (threadID(), first, second)
            }
        }
        #expect(first == second)
        #expect(first != caller)
    }

    /// Ports asgiref `test_async_single_thread_nested_context`: nested contexts reuse the outer thread.
    @Test func nestedSingleThreadContextsReuseTheOuterThread() async throws {
        let (outer, inner) = try await onNewThread { () throws -> (UInt, UInt) in
            try AsyncSingleThreadContext.run {
                let outer = try AsyncToSync.run { threadID() }
                let inner = try AsyncSingleThreadContext.run { try AsyncToSync.run { threadID() } }
                return (outer, inner)
            }
        }
        #expect(outer == inner)
    }

    /// Ports asgiref `test_async_single_thread_context_without_async_work`.
    @Test func emptySingleThreadContextIsHarmless() async throws {
        #expect(try await onNewThread { AsyncSingleThreadContext.run { 3 } } == 3)
    }

    /// Ports asgiref `test_async_single_thread_context_success_share_context`: `Local` changes made by
    /// two successive calls accumulate in the caller.
    @Test func singleThreadContextSharesLocalChanges() async throws {
        let counter = Local<Int>()
        let final = try await onNewThread { () throws -> Int? in
            try counter.set(0)
            try AsyncSingleThreadContext.run {
                for _ in 0..<2 {
                    try AsyncToSync.run { try counter.set((counter.value ?? 0) + 1) }
                }
            }
            return counter.value
        }
        #expect(final == 2)
    }

    /// Ports asgiref `test_async_single_thread_context_matches_from_async_thread`: under an async
    /// caller (inside a bridged sync body) the context does not apply; calls run on the calling thread.
    @Test func singleThreadContextDoesNotApplyUnderAnAsyncCaller() async throws {
        try await ThreadSensitiveContext.run {
            let (worker, first, second) = try await SyncToAsync.run { () throws -> (UInt, UInt, UInt) in
                try AsyncSingleThreadContext.run {
                    (threadID(), try AsyncToSync.run { threadID() }, try AsyncToSync.run { threadID() })
                }
            }
            #expect(first == worker)
            #expect(second == worker)
        }
    }

    /// Thread-sensitive calls made by a single-thread-context body still come back to the caller.
    @Test func singleThreadContextBodyStillServesThreadSensitiveCallsOnTheCaller() async throws {
        let (caller, sensitive) = try await onNewThread { () throws -> (UInt, UInt) in
            try AsyncSingleThreadContext.run {
                (threadID(), try AsyncToSync.run { try await SyncToAsync.run { threadID() } })
            }
        }
        #expect(sensitive == caller)
    }
}
