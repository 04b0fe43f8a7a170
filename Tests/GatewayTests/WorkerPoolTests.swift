import Glibc
import Testing

@testable import Gateway

private let second: UInt64 = 1_000_000_000

/// The supervisor's decisions, without processes: what it starts, stops and announces, and when.
@Suite("WorkerPool")
struct WorkerPoolTests {
    typealias Action = WorkerPool.Action

    static func pool(workers: Int = 2) -> WorkerPool {
        WorkerPool(
            settings: WorkerPool.Settings(
                workers: workers,
                drainNanos: 35 * second,
                startupNanos: 60 * second,
                timedOutWaitNanos: 10 * second
            )
        )
    }

    /// Carries out the spawn actions with pids from `next`, returning the other actions.
    static func spawn(_ actions: [Action], into pool: inout WorkerPool, pids next: inout Int32, at now: UInt64) -> [Action] {
        var others: [Action] = []
        for action in actions {
            if case .spawn(let number, let generation) = action {
                pool.spawned(pid: next, slot: Int(next), number: number, generation: generation, at: now)
                next += 1
            } else {
                others.append(action)
            }
        }
        return others
    }

    /// A pool whose two workers (pids 100, 101) accept.
    static func running() -> (WorkerPool, Int32) {
        var pool = pool()
        var next: Int32 = 100
        let actions = pool.actions(at: 0, freeSlots: 7)
        #expect(actions == [.spawn(number: 1, generation: 0), .spawn(number: 2, generation: 0)])
        #expect(spawn(actions, into: &pool, pids: &next, at: 0).isEmpty)
        pool.becameReady(pid: 100, at: second)
        check(pool.actions(at: second, freeSlots: 5).isEmpty, "not ready until every worker is")
        pool.becameReady(pid: 101, at: second)
        check(pool.actions(at: second, freeSlots: 5) == [.ready(generation: 0)])
        check(pool.actions(at: 2 * second, freeSlots: 5).isEmpty, "announced once")
        return (pool, next)
    }

    @Test func startsEveryWorkerAndAnnouncesReadiness() {
        _ = Self.running()
    }

    @Test func aWorkerThatDiesServingIsReplacedAtOnce() {
        var (pool, next) = Self.running()
        let exit = pool.exited(pid: 100, served: true, at: 3 * second)
        #expect(exit?.1 == .died)
        let actions = pool.actions(at: 3 * second, freeSlots: 6)
        #expect(actions == [.spawn(number: 1, generation: 0)])
        _ = Self.spawn(actions, into: &pool, pids: &next, at: 3 * second)
        check(pool.actions(at: 3 * second, freeSlots: 5).isEmpty)
    }

    @Test func workersThatDieBeforeServingBackOffDoublingToTenSeconds() {
        var (pool, next) = Self.running()
        var now = 3 * second
        var delays: [UInt64] = []
        var pid: Int32 = 100
        for _ in 0..<9 {
            guard case .failedToStart(let delay)? = pool.exited(pid: pid, served: false, at: now)?.1 else {
                Issue.record("not a failed start")
                return
            }
            delays.append(delay)
            check(pool.actions(at: now + delay - 1, freeSlots: 6).isEmpty, "no start before the delay")
            now += delay
            let actions = pool.actions(at: now, freeSlots: 6)
            #expect(actions == [.spawn(number: 1, generation: 0)])
            pid = next
            _ = Self.spawn(actions, into: &pool, pids: &next, at: now)
        }
        #expect(delays.map { $0 / 100_000_000 } == [1, 2, 4, 8, 16, 32, 64, 100, 100])
        // A worker that serves resets the delay.
        check(pool.exited(pid: pid, served: true, at: now)?.1 == .died)
        #expect(pool.backoff.failures == 0)
    }

    @Test func recyclingIsStaggeredAndTheOldWorkerDrainsOnceItsReplacementAccepts() {
        var (pool, next) = Self.running()
        let now = 5 * second
        check(pool.replace(pid: 100, because: .maxRequests, at: now))
        check(!pool.replace(pid: 101, because: .memory, at: now), "one recycling at a time")
        var actions = pool.actions(at: now, freeSlots: 5)
        #expect(actions == [.spawn(number: 1, generation: 0)])
        let replacement = next
        _ = Self.spawn(actions, into: &pool, pids: &next, at: now)
        check(pool.actions(at: now + 1, freeSlots: 4).isEmpty, "the old worker keeps serving meanwhile")
        pool.becameReady(pid: replacement, at: now + 2)
        actions = pool.actions(at: now + 2, freeSlots: 4)
        #expect(actions == [.signal(pid: 100, signal: SIGTERM, reason: .replaced(.maxRequests))])
        check(pool.replace(pid: 101, because: .memory, at: now + 3), "the next recycling may start")
        check(pool.exited(pid: 100, served: true, at: now + 4)?.1 == .expected(.replaced(.maxRequests)))
    }

    @Test func aTimedOutWorkerIsKilledOnceItsReplacementAccepts() {
        var (pool, next) = Self.running()
        let now = 5 * second
        check(pool.replace(pid: 101, because: .timeout, at: now))
        let actions = pool.actions(at: now, freeSlots: 5)
        #expect(actions == [.spawn(number: 2, generation: 0)])
        let replacement = next
        _ = Self.spawn(actions, into: &pool, pids: &next, at: now)
        pool.becameReady(pid: replacement, at: now + 1)
        check(pool.actions(at: now + 1, freeSlots: 4) == [.signal(pid: 101, signal: SIGKILL, reason: .replaced(.timeout))])
    }

    @Test func aTimedOutWorkerIsKilledAnywayWhenNoReplacementComes() {
        var (pool, next) = Self.running()
        let now = 5 * second
        check(pool.replace(pid: 101, because: .timeout, at: now))
        _ = Self.spawn(pool.actions(at: now, freeSlots: 5), into: &pool, pids: &next, at: now)
        check(pool.actions(at: now + 10 * second, freeSlots: 4) == [.signal(pid: 101, signal: SIGKILL, reason: .timedOut)])
    }

    @Test func reloadReplacesEveryWorkerAndAnnouncesTheNewGeneration() {
        var (pool, next) = Self.running()
        let now = 5 * second
        check(pool.reload())
        var actions = pool.actions(at: now, freeSlots: 5)
        #expect(actions == [.spawn(number: 1, generation: 1), .spawn(number: 2, generation: 1)])
        _ = Self.spawn(actions, into: &pool, pids: &next, at: now)
        pool.becameReady(pid: 102, at: now + 1)
        actions = pool.actions(at: now + 1, freeSlots: 3)
        #expect(actions == [.signal(pid: 100, signal: SIGTERM, reason: .replaced(.reload))])
        pool.becameReady(pid: 103, at: now + 2)
        actions = pool.actions(at: now + 2, freeSlots: 3)
        #expect(actions == [.signal(pid: 101, signal: SIGTERM, reason: .replaced(.reload)), .ready(generation: 1)])
    }

    @Test func aSecondReloadStopsTheWorkersOfTheFirstThatNeverAccepted() {
        var (pool, next) = Self.running()
        let now = 5 * second
        check(pool.reload())
        _ = Self.spawn(pool.actions(at: now, freeSlots: 5), into: &pool, pids: &next, at: now)
        check(pool.reload())
        var actions = pool.actions(at: now + 1, freeSlots: 3)
        #expect(actions == [.spawn(number: 1, generation: 2), .spawn(number: 2, generation: 2)])
        _ = Self.spawn(actions, into: &pool, pids: &next, at: now + 1)
        actions = pool.actions(at: now + 2, freeSlots: 1)
        #expect(actions.contains(.signal(pid: 102, signal: SIGTERM, reason: .replaced(.reload))))
        #expect(actions.contains(.signal(pid: 103, signal: SIGTERM, reason: .replaced(.reload))))
        #expect(!actions.contains { if case .signal(100, _, _) = $0 { return true } else { return false } }, "serving workers stay")
    }

    @Test func aCrashingWorkerIsReplacedBeforeItIsGone() {
        var (pool, next) = Self.running()
        let now = 5 * second
        pool.crashed(pid: 100, at: now)
        let actions = pool.actions(at: now, freeSlots: 5)
        #expect(actions == [.spawn(number: 1, generation: 0)])
        _ = Self.spawn(actions, into: &pool, pids: &next, at: now)
        check(pool.exited(pid: 100, served: true, at: now + 2 * second)?.1 == .died)
        // One that never finishes crashing is killed.
        pool.crashed(pid: 101, at: now)
        check(pool.actions(at: now + 60 * second, freeSlots: 5).contains(.signal(pid: 101, signal: SIGKILL, reason: .crashTimeout)))
    }

    @Test func workersThatDoNotAcceptInTimeAreKilledAndBackOff() {
        var pool = Self.pool(workers: 1)
        var next: Int32 = 100
        _ = Self.spawn(pool.actions(at: 0, freeSlots: 3), into: &pool, pids: &next, at: 0)
        check(
            pool.actions(at: 60 * second, freeSlots: 2) == [
                .signal(pid: 100, signal: SIGKILL, reason: .startupTimeout), .spawn(number: 1, generation: 0),
            ]
        )
        check(pool.exited(pid: 100, served: false, at: 61 * second)?.1 == .expected(.startupTimeout))
        #expect(pool.backoff.failures == 1)
    }

    @Test func gracefulStopThenImmediate() {
        var (pool, _) = Self.running()
        let now = 5 * second
        check(
            pool.stop(graceful: true, at: now) == [
                .signal(pid: 100, signal: SIGTERM, reason: .shutdown), .signal(pid: 101, signal: SIGTERM, reason: .shutdown),
            ]
        )
        check(pool.actions(at: now, freeSlots: 5).isEmpty, "nothing starts while stopping")
        check(pool.exited(pid: 100, served: true, at: now + 1)?.1 == .expected(.shutdown))
        check(pool.actions(at: now + 35 * second, freeSlots: 6) == [.signal(pid: 101, signal: SIGKILL, reason: .drainTimeout)])
        check(pool.stop(graceful: false, at: now + 36 * second).isEmpty, "already being killed")
    }

    @Test func immediateStopKillsEveryWorker() {
        var (pool, _) = Self.running()
        check(
            pool.stop(graceful: false, at: 0) == [
                .signal(pid: 100, signal: SIGKILL, reason: .quit), .signal(pid: 101, signal: SIGKILL, reason: .quit),
            ]
        )
        #expect(pool.phase == .quitting)
    }
}

/// `#expect` for conditions that call the pool's mutating methods (the macro cannot capture them).
private func check(_ condition: Bool, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(condition, comment, sourceLocation: sourceLocation)
}
