import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

@Suite("Cancellation and timeouts")
struct CancellationTests {
    /// A cancelled caller of `syncToAsync` gets `CancellationError` while the body is still running
    /// (the body is only released after the caller has returned); the body sees
    /// `SyncToAsync.isCancelled` and its result is dropped.
    @Test(arguments: [true, false])
    func cancelledCallerReturnsPromptlyAndBodySeesIt(threadSensitive: Bool) async throws {
        try await ThreadSensitiveContext.run { () async throws in
            let running = Gate()
            let release = Gate()
            let observed = Recorder<Bool>()
            let finished = Gate()
            let caller = Task {
                try await SyncToAsync.run(threadSensitive: threadSensitive) { () throws -> Int in
                    observed.append(SyncToAsync.isCancelled)
                    running.open()
                    release.waitBlocking()
                    observed.append(SyncToAsync.isCancelled)
                    observed.append((try? SyncToAsync.checkCancellation()) == nil)
                    finished.open()
                    return 42
                }
            }
            await running.wait()
            caller.cancel()
            await #expect(throws: CancellationError.self) { try await caller.value }
            release.open()
            await finished.wait()
            #expect(observed.values == [false, true, true])
        }
    }

    /// A body whose caller was cancelled before the body started is skipped.
    @Test func bodyOfACallerCancelledBeforeItStartedIsSkipped() async throws {
        try await ThreadSensitiveContext.run {
            let running = Gate()
            let release = Gate()
            let ranSecond = Recorder<Bool>()
            async let first: Void = SyncToAsync.run {
                running.open()
                release.waitBlocking()
            }
            await running.wait()
            let second = Task { try await SyncToAsync.run { ranSecond.append(true) } }
            let lane = try #require(BridgeState.current.sensitiveLane)
            while lane.thread.queue.count < 1 { await Task.yield() }
            second.cancel()
            await #expect(throws: CancellationError.self) { try await second.value }
            release.open()
            try await first
            // A later call on the same thread runs after the skipped one would have.
            try await SyncToAsync.run {}
            #expect(ranSecond.values.isEmpty)
        }
    }

    /// Cancelling the awaiting caller cancels the task inside a nested `asyncToSync` (asgiref's
    /// inner-shield tests, adapted): the async code sees the cancellation and can finish normally.
    @Test func cancellationReachesTheTaskInsideAsyncToSync() async throws {
        try await ThreadSensitiveContext.run { () async throws in
            let started = Gate()
            let innerSawCancellation = Recorder<Bool>()
            let innerDone = Gate()
            let caller = Task {
                try await SyncToAsync.run {
                    try AsyncToSync.run { () async -> String in
                        started.open()
                        // Wait until cancelled, without sleeping as synchronisation.
                        await withTaskCancellationHandler {
                            await Gate().waitUnlessCancelled()
                        } onCancel: {
                        }
                        innerSawCancellation.append(Task.isCancelled)
                        innerDone.open()
                        return "handled"
                    }
                }
            }
            await started.wait()
            caller.cancel()
            await #expect(throws: CancellationError.self) { try await caller.value }
            await innerDone.wait()
            #expect(innerSawCancellation.values == [true])
        }
    }

    /// A detached task started inside the bridged code is not cancelled with the caller (asgiref
    /// `test_inner_shield_sync_and_async_middleware_sync_task`, adapted).
    @Test func detachedWorkIsNotCancelledWithTheCaller() async throws {
        let started = Gate()
        let release = Gate()
        let detachedResult = Recorder<Task<Bool, Never>>()
        let caller = Task {
            try await SyncToAsync.run(threadSensitive: false) {
                try AsyncToSync.run { () async -> Void in
                    detachedResult.append(
                        Task.detached {
                            await release.wait()
                            return Task.isCancelled
                        }
                    )
                    started.open()
                    await Gate().waitUnlessCancelled()
                }
            }
        }
        await started.wait()
        caller.cancel()
        _ = await caller.result
        release.open()
        #expect(await detachedResult.values[0].value == false)
    }

    /// `withTimeout` around a blocking call returns `TimeoutError` while the body still blocks (it is
    /// released only afterwards), so the timeout does not wait for the blocking work.
    @Test func timeoutReturnsPromptlyAroundBlockingWork() async throws {
        try await ThreadSensitiveContext.run { () async throws in
            let release = Gate()
            let error = await #expect(throws: TimeoutError.self) {
                try await withTimeout(.milliseconds(20)) {
                    try await SyncToAsync.run { release.waitBlocking() }
                }
            }
            #expect(error?.duration == .milliseconds(20))
            release.open()
        }
    }

    /// A body that finishes in time returns its value; its errors pass through unchanged.
    @Test func timeoutPassesValuesAndErrors() async throws {
        #expect(try await withTimeout(.seconds(30)) { 5 } == 5)
        let error = await #expect(throws: PayloadError.self) {
            try await withTimeout(.seconds(30)) { () async throws -> Int in throw PayloadError(code: 3, message: "t") }
        }
        #expect(error == PayloadError(code: 3, message: "t"))
    }

    /// A zero or negative limit throws at once without running the body.
    @Test func zeroTimeoutThrowsWithoutRunning() async throws {
        let ran = Recorder<Bool>()
        await #expect(throws: TimeoutError.self) {
            try await withTimeout(.zero) { ran.append(true) }
        }
        #expect(ran.values.isEmpty)
    }

    /// Cancellation of the caller is never turned into a timeout (asgiref #504).
    @Test func outerCancellationIsNotATimeout() async throws {
        let started = Gate()
        let task = Task {
            try await withTimeout(.seconds(60)) {
                started.open()
                await Gate().waitUnlessCancelled()
                try Task.checkCancellation()
            }
        }
        await started.wait()
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}

extension Gate {
    /// Waits until the gate opens or the current task is cancelled.
    func waitUnlessCancelled() async {
        await withTaskCancellationHandler {
            _ = await wait()
        } onCancel: {
            open()
        }
    }
}
