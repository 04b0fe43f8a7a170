import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

/// The deadline heap and thread behind `withTimeout`: a deadline that is no longer needed is gone
/// at once, not when it would have expired.
@Suite("Deadline timers")
struct DeadlineTimerTests {
    /// The heap hands entries out in deadline order and removes any entry from the middle.
    @Test func heapOrdersAndRemoves() {
        var heap = TimerHeap()
        var generator = SystemRandomNumberGenerator()
        let entries = (0..<500).map { _ in TimerEntry(deadline: UInt64.random(in: 0..<1_000, using: &generator)) }
        for entry in entries { heap.insert(entry) }
        let removed = Set(entries.indices.filter { $0 % 3 == 0 })
        for index in removed {
            let first = heap.remove(entries[index])
            let second = heap.remove(entries[index])
            #expect(first)
            #expect(second == false)
        }
        #expect(heap.count == entries.count - removed.count)
        var popped: [UInt64] = []
        while let entry = heap.popFirst() {
            #expect(entry.index == nil)
            popped.append(entry.deadline)
        }
        let expected = entries.indices.filter { !removed.contains($0) }.map { entries[$0].deadline }.sorted()
        #expect(popped == expected)
    }

    /// A sleep that is cancelled leaves nothing behind: its entry is out of the heap and freed as
    /// soon as the sleeper has returned, an hour before its deadline.
    @Test func cancelledSleepsFreeTheirEntriesAtOnce() async throws {
        let timers = DeadlineTimers(name: "test-timers")
        defer { timers.stop() }
        let sleepers = (0..<200).map { _ in
            Task { try await timers.sleep(for: .seconds(3_600)) }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while timers.pendingCount < sleepers.count && ContinuousClock.now < deadline { await Task.yield() }
        #expect(timers.pendingCount == sleepers.count)
        for sleeper in sleepers { sleeper.cancel() }
        for sleeper in sleepers {
            await #expect(throws: CancellationError.self) { try await sleeper.value }
        }
        #expect(timers.pendingCount == 0)
    }

    /// An entry is released (no reference left) once the sleep it served was cancelled.
    @Test func cancelledEntryIsReleased() async throws {
        let timers = DeadlineTimers(name: "test-release")
        defer { timers.stop() }
        weak var released: TimerEntry?
        do {
            let entry = TimerEntry(deadline: DeadlineTimers.now() + 3_600_000_000_000)
            released = entry
            let sleeper = Task { try await timers.sleep(entry) }
            let deadline = ContinuousClock.now + .seconds(60)
            while timers.pendingCount < 1 && ContinuousClock.now < deadline { await Task.yield() }
            sleeper.cancel()
            await #expect(throws: CancellationError.self) { try await sleeper.value }
        }
        #expect(released == nil)
    }

    /// Sleeps end at their deadlines, in deadline order, never before.
    @Test func sleepsEndAtTheirDeadlines() async throws {
        let timers = DeadlineTimers(name: "test-order")
        defer { timers.stop() }
        let ended = Recorder<Int>()
        let started = DeadlineTimers.now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, milliseconds) in [30, 10, 20].enumerated() {
                group.addTask {
                    try await timers.sleep(for: .milliseconds(milliseconds))
                    #expect(DeadlineTimers.now() - started >= UInt64(milliseconds) * 1_000_000)
                    ended.append(index)
                }
            }
            try await group.waitForAll()
        }
        #expect(Set(ended.values) == [0, 1, 2])
        #expect(timers.pendingCount == 0)
    }

    /// A sleep whose task is cancelled before it starts throws at once and schedules nothing.
    @Test func sleepOfACancelledTaskThrowsAtOnce() async throws {
        let timers = DeadlineTimers(name: "test-precancel")
        defer { timers.stop() }
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await timers.sleep(for: .seconds(3_600))
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(timers.pendingCount == 0)
    }

    /// `withTimeout` over a body that finishes at once leaves no deadline behind in the shared heap
    /// (checked on a private instance's count would not cover the real path, so count the shared
    /// one's pending deadlines before and after a batch: nothing from the batch remains).
    @Test func finishedTimeoutsLeaveNoDeadlines() async throws {
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<500 {
                group.addTask { try await withTimeout(.seconds(3_600)) { index } }
            }
            return try await group.reduce(0, +)
        }
        #expect(results == (0..<500).reduce(0, +))
        // Other suites may hold deadlines of their own meanwhile, but none of an hour: the batch's
        // would be the only ones this far out.
        #expect(DeadlineTimers.shared.pendingCount(dueAfter: DeadlineTimers.now() + 1_800_000_000_000) == 0)
    }
}
