import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

@Suite("asyncToSync")
struct AsyncToSyncTests {
    /// Ports asgiref `test_async_to_sync` and `test_async_to_sync_decorator`: from plain sync code,
    /// an async function that suspends runs to completion.
    @Test func runsFromPlainThread() async throws {
        let value = try await onNewThread {
            try AsyncToSync.run { () async -> Int in
                await Task.yield()
                return 84
            }
        }
        #expect(value == 84)
        let wrapped = asyncToSync { (x: Int) async -> Int in
            await Task.yield()
            return x + 1
        }
        #expect(try await onNewThread { try wrapped(84) } == 85)
    }

    /// Ports asgiref `test_async_to_sync_in_thread` and `test_async_to_sync_to_thread_decorator`:
    /// the bridge works from a thread the library did not create, including a dispatch queue.
    @Test func runsFromForeignThreadsAndQueues() async throws {
        let value = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "foreign").async {
                continuation.resume(with: Result { try AsyncToSync.run { 42 } })
            }
        }
        #expect(value == 42)
    }

    /// The body's jobs run on the calling thread: no thread hop.
    @Test func bodyRunsOnTheCallingThread() async throws {
        let (caller, body, afterSuspension) = try await onNewThread { () throws -> (UInt, UInt, UInt) in
            let caller = threadID()
            let (body, after) = try AsyncToSync.run { () async -> (UInt, UInt) in
                let body = threadID()
                await Task.yield()
                try? await Task.sleep(for: .milliseconds(1))
                return (body, threadID())
            }
            return (caller, body, after)
        }
        #expect(body == caller)
        #expect(afterSuspension == caller)
    }

    /// Ports asgiref `test_async_to_sync_in_async`: calling it (indirectly, past the `noasync`
    /// compile-time check) from inside a task throws a clear error instead of deadlocking.
    @Test func refusedInsideATask() async throws {
        #expect(throws: BridgeError.asyncToSyncInAsyncContext) {
            try indirectAsyncToSync()
        }
        let message = BridgeError.asyncToSyncInAsyncContext.description
        #expect(message.contains("await the async function directly"))
    }

    /// Refused from a detached task and from a task-group child too (every cooperative thread runs a task).
    @Test func refusedInDetachedAndChildTasks() async throws {
        let detached = await Task.detached { () -> Bool in
            do {
                _ = try indirectAsyncToSync()
                return false
            } catch { return error as? BridgeError == .asyncToSyncInAsyncContext }
        }.value
        #expect(detached)
        let child = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    _ = try indirectAsyncToSync()
                    return false
                } catch { return error as? BridgeError == .asyncToSyncInAsyncContext }
            }
            return await group.next()!
        }
        #expect(child)
    }

    /// Called from main-actor code outside any task (a main-queue block, like top-level code in
    /// `main.swift`), it completes: the body's task does not inherit the main actor, whose queue the
    /// caller is blocking. (Under `swift test` on Linux the main queue is served by a worker thread.)
    @Test func completesFromTheMainQueue() async throws {
        let value = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.main.async {
                dispatchPrecondition(condition: .onQueue(.main))
                let result = Result {
                    try AsyncToSync.run { () async -> Int in
                        await Task.yield()
                        return 42
                    }
                }
                continuation.resume(with: result)
            }
        }
        #expect(value == 42)
    }

    /// Errors thrown in the async body reach the sync caller unchanged.
    @Test func errorsArriveUnchanged() async throws {
        let caught = try await onNewThread { () -> PayloadError? in
            do {
                _ = try AsyncToSync.run { () async throws -> Int in
                    await Task.yield()
                    throw PayloadError(code: 9, message: "from async")
                }
                return nil
            } catch let error as PayloadError {
                return error
            }
        }
        #expect(caught == PayloadError(code: 9, message: "from async"))
    }

    /// Ports asgiref `test_async_to_sync_to_async` / `_decorator`: async → sync → async re-enters
    /// on the sync worker's own thread (no new thread or loop is made for the inner async code).
    @Test func asyncToSyncToAsyncStaysOnTheWorkerThread() async throws {
        let (worker, inner, value) = try await SyncToAsync.run { () throws -> (UInt, UInt, Int) in
            let worker = threadID()
            let (inner, value) = try AsyncToSync.run { () async -> (UInt, Int) in
                await Task.yield()
                return (threadID(), 65)
            }
            return (worker, inner, value)
        }
        #expect(value == 65)
        #expect(inner == worker)
    }

    /// The public `CurrentThreadExecutor` refuses another thread and a second run.
    @Test func currentThreadExecutorRules() async throws {
        // The creating thread stays alive during the check (an exited thread's id can be reused).
        let creatorDone = Gate()
        let executor = await withCheckedContinuation { continuation in
            Thread {
                continuation.resume(returning: CurrentThreadExecutor())
                creatorDone.waitBlocking()
            }.start()
        }
        await #expect(throws: BridgeError.wrongThread) {
            try await onNewThread { try executor.run { 1 } }
        }
        creatorDone.open()
        let (first, second) = try await onNewThread { () -> (Int, BridgeError?) in
            let executor = CurrentThreadExecutor()
            let first = try executor.run { () async -> Int in
                await Task.yield()
                return 1
            }
            do {
                _ = try executor.run { 2 }
                return (first, nil)
            } catch let error as BridgeError {
                return (first, error)
            }
        }
        #expect(first == 1)
        #expect(second == .executorFinished)
        #expect(executor.isFinished == false)
    }

    /// `CurrentThreadExecutor.submit` runs work on the executor's thread while it serves.
    @Test func currentThreadExecutorSubmitRunsOnItsThread() async throws {
        let (owner, ran) = try await onNewThread { () throws -> (UInt, UInt) in
            let executor = CurrentThreadExecutor()
            let ran = try executor.run {
                try await Task.detached { try await executor.submit { threadID() } }.value
            }
            return (threadID(), ran)
        }
        #expect(owner == ran)
    }
}
