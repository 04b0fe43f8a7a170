import Synchronization

/// Records this process's requests in its scoreboard slot: an entry per request in flight
/// (method, path, start) and the count served. Per request it costs a compare-and-swap, a clock
/// read and a few atomic stores: no lock, no allocation, no system call.
final class RequestTracker: Sendable {
    /// This process's slot.
    let slot: WorkerSlot
    private let nextEntry = Atomic<Int>(0)
    /// Requests after which the worker asks to be recycled (0: never).
    private let maxRequests: UInt64
    private let onRecycle: @Sendable () -> Void

    /// A tracker for `slot`, whose `--max-requests` limit (with its jitter) the supervisor wrote.
    /// - Parameter onRecycle: called once this worker asks to be replaced (it wakes the supervisor).
    init(slot: WorkerSlot, onRecycle: @escaping @Sendable () -> Void) {
        self.slot = slot
        self.maxRequests = slot.load(ScoreboardLayout.Slot.maxRequests)
        self.onRecycle = onRecycle
    }

    /// A request's hold on an entry; `entry` is -1 when every entry was taken (the request is
    /// counted as in flight but not named).
    struct Ticket: Sendable {
        /// The entry it holds (-1: none).
        let entry: Int
        fileprivate let sequence: UInt64
    }

    /// Records a request starting: `method` and `prefix` + `path` (the WSGI `SCRIPT_NAME` and
    /// `PATH_INFO`; the ASGI path with an empty prefix).
    func begin(method: String, prefix: String = "", path: String) -> Ticket {
        typealias Entry = ScoreboardLayout.Entry
        let count = ScoreboardLayout.entriesPerSlot
        let first = nextEntry.wrappingAdd(1, ordering: .relaxed).oldValue
        for offset in 0..<count {
            let index = (first &+ offset) & (count - 1)
            let words = slot.entry(index)
            let sequence = words[Entry.sequence].load(ordering: .relaxed)
            guard sequence & 3 == 0 else { continue }
            guard
                words[Entry.sequence].compareExchange(
                    expected: sequence,
                    desired: sequence &+ 1,
                    ordering: .acquiring
                ).exchanged
            else { continue }
            words[Entry.startMonotonicNanos].store(SystemCalls.monotonicNanos(), ordering: .relaxed)
            var text = EntryText(words + Entry.text)
            text.append(method)
            let methodLength = text.count
            text.append(prefix)
            text.append(path)
            let pathLength = text.count - methodLength
            words[Entry.lengths].store(
                UInt64(methodLength) | UInt64(pathLength) << 16 | (text.cut ? 1 << 32 : 0),
                ordering: .relaxed
            )
            text.flush()
            words[Entry.sequence].store(sequence &+ 2, ordering: .releasing)
            return Ticket(entry: index, sequence: sequence)
        }
        slot.atomic(ScoreboardLayout.Slot.untrackedInFlight).pointee.wrappingAdd(1, ordering: .relaxed)
        return Ticket(entry: -1, sequence: 0)
    }

    /// Records the request's end, and asks for recycling when it was the last of `--max-requests`.
    func end(_ ticket: Ticket) {
        if ticket.entry >= 0 {
            slot.entry(ticket.entry)[ScoreboardLayout.Entry.sequence].store(ticket.sequence &+ 4, ordering: .releasing)
        } else {
            slot.atomic(ScoreboardLayout.Slot.untrackedInFlight).pointee.wrappingSubtract(1, ordering: .relaxed)
        }
        let served = slot.atomic(ScoreboardLayout.Slot.requestsServed).pointee.wrappingAdd(1, ordering: .relaxed).newValue
        if served == maxRequests {
            requestRecycle(.maxRequests)
        }
    }

    /// Asks the supervisor to replace this worker (the first reason wins).
    func requestRecycle(_ reason: RecycleReason) {
        let (exchanged, _) = slot.atomic(ScoreboardLayout.Slot.recycleReason).pointee.compareExchange(
            expected: RecycleReason.none.rawValue,
            desired: reason.rawValue,
            ordering: .acquiringAndReleasing
        )
        if exchanged { onRecycle() }
    }
}

/// Packs the bytes of "METHOD PATH" into an entry's text words, cutting what does not fit.
private struct EntryText {
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private var word: UInt64 = 0
    private(set) var count = 0
    private(set) var cut = false

    init(_ words: UnsafeMutablePointer<Atomic<UInt64>>) {
        self.words = words
    }

    mutating func append(_ string: String) {
        if string.isEmpty { return }
        var string = string
        string.withUTF8 { bytes in
            for byte in bytes {
                guard count < ScoreboardLayout.entryTextBytes else {
                    cut = true
                    return
                }
                word |= UInt64(byte) << (UInt64(count & 7) * 8)
                count += 1
                if count & 7 == 0 {
                    words[count / 8 - 1].store(word, ordering: .relaxed)
                    word = 0
                }
            }
        }
    }

    /// Stores the last, partly filled word.
    func flush() {
        if count & 7 != 0 { words[count / 8].store(word, ordering: .relaxed) }
    }
}
