import Foundation
import Glibc
import Synchronization
import Testing

@testable import Gateway

/// The scoreboard in shared memory: what a worker records per request, and what readers see.
@Suite("Scoreboard")
struct ScoreboardTests {
    static func slot(maxRequests: UInt64 = 0) throws -> (Scoreboard, WorkerSlot) {
        let scoreboard = try Scoreboard.create(slots: 2, supervised: true, configuredWorkers: 1)
        let slot = scoreboard.slot(1)
        slot.prepare(number: 1, generation: 0, maxRequests: maxRequests, memoryLimitBytes: 0, now: SystemCalls.monotonicNanos())
        return (scoreboard, slot)
    }

    @Test func recordsRequestsInFlightAndServed() throws {
        let (_, slot) = try Self.slot()
        let tracker = RequestTracker(slot: slot, onRecycle: {})
        let first = tracker.begin(method: "GET", path: "/first")
        let second = tracker.begin(method: "POST", prefix: "/app", path: "/second")
        var requests = slot.requestsInFlight()
        #expect(requests.map(\.summary) == ["GET /first", "POST /app/second"])
        #expect(slot.oldestRequestStart() == requests.first?.startNanos)
        tracker.end(first)
        requests = slot.requestsInFlight()
        #expect(requests.map(\.summary) == ["POST /app/second"])
        tracker.end(second)
        #expect(slot.requestsInFlight().isEmpty)
        #expect(slot.oldestRequestStart() == nil)
        #expect(slot.requestsServed == 2)
    }

    @Test func cutsLongPathsAndCountsRequestsBeyondTheEntries() throws {
        let (_, slot) = try Self.slot()
        let tracker = RequestTracker(slot: slot, onRecycle: {})
        let long = "/" + String(repeating: "é", count: 400)
        let ticket = tracker.begin(method: "GET", path: long)
        let request = try #require(slot.requestsInFlight().first)
        #expect(request.pathCut)
        #expect(request.summary.hasSuffix("…"))
        #expect(long.hasPrefix(request.path.prefix(100)))
        tracker.end(ticket)
        let tickets = (0..<(ScoreboardLayout.entriesPerSlot + 3)).map { tracker.begin(method: "GET", path: "/\($0)") }
        #expect(slot.requestsInFlight().count == ScoreboardLayout.entriesPerSlot)
        #expect(slot.load(ScoreboardLayout.Slot.untrackedInFlight) == 3)
        for ticket in tickets { tracker.end(ticket) }
        #expect(slot.requestsInFlight().isEmpty)
        #expect(slot.load(ScoreboardLayout.Slot.untrackedInFlight) == 0)
    }

    @Test func asksForRecyclingOnceAtMaxRequests() throws {
        let (_, slot) = try Self.slot(maxRequests: 3)
        let calls = Counter()
        let tracker = RequestTracker(slot: slot, onRecycle: { calls.add() })
        for _ in 0..<5 { tracker.end(tracker.begin(method: "GET", path: "/")) }
        #expect(slot.recycleReason == .maxRequests)
        #expect(calls.value == 1)
        tracker.requestRecycle(.memory)
        #expect(slot.recycleReason == .maxRequests, "the first reason stays")
        #expect(calls.value == 1)
    }

    /// An entry that changes while it is read (the request ends and a new one takes the entry)
    /// is read again: the reader gets the new request whole, never the old method with the new
    /// path. Entries being written, and free ones, are skipped.
    @Test func anEntryChangedWhileReadIsReadAgain() throws {
        let (_, slot) = try Self.slot()
        let tracker = RequestTracker(slot: slot, onRecycle: {})
        // Every other entry taken, so that the new request must take the entry being read.
        let others = (1..<ScoreboardLayout.entriesPerSlot).map { _ in tracker.begin(method: "PUT", path: "/other") }
        let old = tracker.begin(method: "GET", path: "/old")
        var replacement: RequestTracker.Ticket? = nil
        let read = slot.readEntry(old.entry) {
            tracker.end(old)
            replacement = tracker.begin(method: "DELETE", path: "/a-new-and-longer-path")
        }
        #expect(replacement?.entry == old.entry)
        #expect(read?.summary == "DELETE /a-new-and-longer-path")

        // Being written: skipped.
        let words = slot.entry(old.entry)
        let sequence = words[ScoreboardLayout.Entry.sequence].load(ordering: .relaxed)
        words[ScoreboardLayout.Entry.sequence].store(sequence | 1, ordering: .relaxed)
        #expect(slot.readEntry(old.entry) == nil)
        words[ScoreboardLayout.Entry.sequence].store(sequence, ordering: .relaxed)
        if let replacement { tracker.end(replacement) }
        #expect(slot.readEntry(old.entry) == nil, "free")
        for ticket in others { tracker.end(ticket) }
        #expect(slot.requestsInFlight().isEmpty)
    }

    @Test func anotherMappingSeesTheSameSlots() throws {
        let scoreboard = try Scoreboard.create(slots: 3, supervised: true, configuredWorkers: 2)
        let other = try Scoreboard.attach(descriptor: scoreboard.descriptor)
        #expect(other.slotCount == 3)
        scoreboard.slot(2).prepare(number: 2, generation: 4, maxRequests: 0, memoryLimitBytes: 0, now: 1)
        let tracker = RequestTracker(slot: scoreboard.slot(2), onRecycle: {})
        let ticket = tracker.begin(method: "GET", path: "/shared")
        let snapshot = ScoreboardSnapshot.read(other)
        #expect(snapshot.configuredWorkers == 2)
        #expect(snapshot.workers.map(\.number) == [2])
        #expect(snapshot.workers.first?.generation == 4)
        #expect(snapshot.workers.first?.requests.map(\.summary) == ["GET /shared"])
        tracker.end(ticket)
        #expect(ScoreboardSnapshot.read(other).workers.first?.requestsServed == 1)
    }

    @Test func attachRefusesWhatIsNotAScoreboard() throws {
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        #expect(throws: GatewayError.self) { try Scoreboard.attach(descriptor: fd) }
    }
}

/// A counter shared with other tasks.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
