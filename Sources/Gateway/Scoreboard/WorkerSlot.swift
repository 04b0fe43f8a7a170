import Synchronization

/// One worker process's slot in the ``Scoreboard``.
///
/// The supervisor writes the identity words (pid, number, generation, limits) before and right
/// after it spawns the process, and frees the slot after it reaped it; the worker writes its
/// state, counters and request entries while it runs.
///
/// Unchecked `Sendable`: both stored properties are immutable, and `base` points into the
/// ``Scoreboard``'s shared mapping, which is never unmapped, as `Atomic` words: every access
/// through it (and through the pointers `atomic(_:)` and `entry(_:)` hand out) is atomic.
struct WorkerSlot: @unchecked Sendable {
    let index: Int
    private let base: UnsafeMutablePointer<Atomic<UInt64>>

    init(index: Int, base: UnsafeMutablePointer<Atomic<UInt64>>) {
        self.index = index
        self.base = base
    }

    // MARK: Words

    func load(_ word: Int) -> UInt64 {
        base[word].load(ordering: .acquiring)
    }

    func store(_ word: Int, _ value: UInt64) {
        base[word].store(value, ordering: .releasing)
    }

    /// The slot word itself, for the worker's own compare-and-swap and counters.
    func atomic(_ word: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        base + word
    }

    /// The first word of request entry `entry`.
    func entry(_ entry: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        base + ScoreboardLayout.slotHeaderWords + entry * ScoreboardLayout.entryWords
    }

    var state: WorkerState {
        WorkerState(rawValue: load(ScoreboardLayout.Slot.state)) ?? .free
    }

    var pid: Int32 { Int32(truncatingIfNeeded: load(ScoreboardLayout.Slot.pid)) }
    var requestsServed: UInt64 { load(ScoreboardLayout.Slot.requestsServed) }
    var recycleReason: RecycleReason { RecycleReason(rawValue: load(ScoreboardLayout.Slot.recycleReason)) ?? .none }

    // MARK: Supervisor side

    /// Readies a free slot for a process about to be spawned: identity, limits, zeroed counters,
    /// every request entry free.
    func prepare(number: Int, generation: Int, maxRequests: UInt64, memoryLimitBytes: UInt64, now: UInt64) {
        typealias Slot = ScoreboardLayout.Slot
        store(Slot.pid, 0)
        store(Slot.number, UInt64(number))
        store(Slot.generation, UInt64(generation))
        store(Slot.spawnedAtMonotonicNanos, now)
        store(Slot.readyAtMonotonicNanos, 0)
        store(Slot.requestsServed, 0)
        store(Slot.residentBytes, 0)
        store(Slot.recycleReason, RecycleReason.none.rawValue)
        store(Slot.untrackedInFlight, 0)
        store(Slot.maxRequests, maxRequests)
        store(Slot.memoryLimitBytes, memoryLimitBytes)
        for index in 0..<ScoreboardLayout.entriesPerSlot {
            // The next free value of the sequence: entries of a process that died mid-request
            // are released, and a reader never mistakes them for the new process's.
            let sequence = entry(index)
            let value = sequence.pointee.load(ordering: .relaxed)
            sequence.pointee.store(value & 3 == 0 ? value : (value | 3) &+ 1, ordering: .releasing)
        }
        store(Slot.state, WorkerState.starting.rawValue)
    }

    /// Frees the slot of a reaped process; returns the requests it served.
    func free() -> UInt64 {
        let served = requestsServed
        store(ScoreboardLayout.Slot.state, WorkerState.free.rawValue)
        store(ScoreboardLayout.Slot.pid, 0)
        return served
    }

    // MARK: Reading requests

    /// The requests in flight that have an entry, oldest first (entries written meanwhile are
    /// skipped rather than read torn).
    func requestsInFlight() -> [InFlightRequest] {
        var requests: [InFlightRequest] = []
        for index in 0..<ScoreboardLayout.entriesPerSlot {
            if let request = readEntry(index) { requests.append(request) }
        }
        requests.sort { $0.startNanos < $1.startNanos }
        return requests
    }

    /// The start of the oldest request in flight that has an entry, without decoding any text
    /// (what the supervisor checks on every tick).
    func oldestRequestStart() -> UInt64? {
        var oldest: UInt64? = nil
        for index in 0..<ScoreboardLayout.entriesPerSlot {
            let words = entry(index)
            let before = words[ScoreboardLayout.Entry.sequence].load(ordering: .acquiring)
            guard before & 3 == 2 else { continue }
            let start = words[ScoreboardLayout.Entry.startMonotonicNanos].load(ordering: .relaxed)
            atomicMemoryFence(ordering: .acquiring)
            guard words[ScoreboardLayout.Entry.sequence].load(ordering: .relaxed) == before else { continue }
            if oldest.map({ start < $0 }) ?? true { oldest = start }
        }
        return oldest
    }

    /// Request entry `index`, read whole or not at all: if it changed while it was read (the
    /// request ended, another took the entry), the read starts again, up to four times.
    /// - Parameter interleaving: runs once, between reading the words and checking that they did
    ///   not change (tests use it to change the entry at that moment).
    func readEntry(_ index: Int, interleaving: (() -> Void)? = nil) -> InFlightRequest? {
        typealias Entry = ScoreboardLayout.Entry
        let words = entry(index)
        var interleaving = interleaving
        for _ in 0..<4 {
            let before = words[Entry.sequence].load(ordering: .acquiring)
            guard before & 3 == 2 else { return nil }
            let start = words[Entry.startMonotonicNanos].load(ordering: .relaxed)
            let lengths = words[Entry.lengths].load(ordering: .relaxed)
            var bytes = [UInt8]()
            bytes.reserveCapacity(ScoreboardLayout.entryTextBytes)
            for word in 0..<ScoreboardLayout.entryTextWords {
                var value = words[Entry.text + word].load(ordering: .relaxed).littleEndian
                withUnsafeBytes(of: &value) { bytes.append(contentsOf: $0) }
            }
            interleaving?()
            interleaving = nil
            atomicMemoryFence(ordering: .acquiring)
            guard words[Entry.sequence].load(ordering: .relaxed) == before else { continue }
            let methodLength = min(Int(lengths & 0xFFFF), bytes.count)
            let pathLength = min(Int((lengths >> 16) & 0xFFFF), bytes.count - methodLength)
            return InFlightRequest(
                method: String(decoding: bytes[..<methodLength], as: UTF8.self),
                path: String(decoding: bytes[methodLength..<(methodLength + pathLength)], as: UTF8.self),
                pathCut: lengths >> 32 & 1 == 1,
                startNanos: start
            )
        }
        return nil
    }
}
