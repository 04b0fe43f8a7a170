import Foundation
import Synchronization
import TestSupport
import Testing

@testable import AsyncBridge

/// Runs `operation` through `AsyncToSync` on a new plain thread (a blocking frontend's worker);
/// returns that thread's identity and the operation's result.
private func underAsyncToSync<R: Sendable>(_ operation: @escaping @Sendable () async throws -> R) async throws -> (thread: UInt, value: R) {
    try await onNewThread {
        (threadID(), try AsyncToSync.run(operation))
    }
}

/// Wakes a thread that waits through `runQueuedWork()` every 100 ms until stopped, so that a wait
/// whose work never comes ends at its deadline instead of hanging the test.
private final class Nudger: Sendable {
    private let stopped = Atomic<Bool>(false)
    init(_ thread: WaitingThread) {
        Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                usleep(100_000)
                thread.wake()
            }
        }.start()
    }
    func stop() { stopped.store(true, ordering: .relaxed) }
}

@Suite("WaitingThread")
struct WaitingThreadTests {
    @Test("Async code run by asyncToSync sees its thread; code on the cooperative pool sees none")
    func currentThread() async throws {
        #expect(WaitingThread.current == nil)
        let (thread, seen) = try await underAsyncToSync { () -> UInt? in
            guard let current = WaitingThread.current, current.isCurrent else { return nil }
            return threadID()
        }
        #expect(seen == thread)
    }

    @Test("A started call queued on the waiting thread runs there once the caller suspends")
    func startedCallRunsOnTheWaitingThread() async throws {
        let ran = Recorder<UInt>()
        let (thread, queuedThere) = try await underAsyncToSync { () -> Bool in
            let done = Gate()
            let call = try StartedSyncCall.start(
                threadSensitive: false,
                executor: nil,
                on: WaitingThread.current,
                {
                    ran.append(threadID())
                },
                completion: { _ in done.open() }
            )
            await done.wait()
            call.mergeLocals()
            return call.waitingThread != nil
        }
        #expect(queuedThere)
        #expect(ran.values == [thread])
    }

    @Test("Without a waiting thread, or with an executor of its own, a started call runs elsewhere")
    func otherwiseTheCallRunsElsewhere() async throws {
        let ran = Recorder<UInt>()
        let pool = BlockingThreadPool(threads: 1, name: "waiting-test")
        defer { pool.shutdown() }
        let (thread, queuedThere) = try await underAsyncToSync { () -> [Bool] in
            var queued: [Bool] = []
            for executor in [nil, pool] as [BlockingThreadPool?] {
                let done = Gate()
                let waiting = executor == nil ? nil : WaitingThread.current
                let call = try StartedSyncCall.start(
                    threadSensitive: false,
                    executor: executor,
                    on: waiting,
                    {
                        ran.append(threadID())
                    },
                    completion: { _ in done.open() }
                )
                await done.wait()
                queued.append(call.waitingThread != nil)
            }
            return queued
        }
        #expect(queuedThere == [false, false])
        #expect(ran.values.count == 2)
        #expect(!ran.values.contains(thread))
    }

    @Test("A call on the waiting thread waits for its caller by running the thread's queued work")
    func waitingForTheCallerRunsItsWork() async throws {
        let sawCaller = Recorder<Bool>()
        let (thread, ranOn) = try await underAsyncToSync { () -> UInt in
            let bodyStarted = Gate()
            let callerWent = Gate()
            let done = Gate()
            let ranOn = Recorder<UInt>()
            guard let waiting = WaitingThread.current else { return 0 }
            let nudger = Nudger(waiting)
            defer { nudger.stop() }
            _ = try StartedSyncCall.start(
                threadSensitive: false,
                executor: nil,
                on: waiting,
                {
                    ranOn.append(threadID())
                    bodyStarted.open()
                    // The caller can only go on on this very thread: a plain sleep here would never end.
                    let deadline = Date(timeIntervalSinceNow: 30)
                    while !callerWent.isOpen && Date() < deadline {
                        guard waiting.runQueuedWork() else { break }
                    }
                    sawCaller.append(callerWent.isOpen)
                },
                completion: { _ in done.open() }
            )
            await bodyStarted.wait()
            callerWent.open()
            await done.wait()
            return ranOn.values.first ?? 0
        }
        #expect(ranOn == thread)
        #expect(sawCaller.values == [true])
    }
}
