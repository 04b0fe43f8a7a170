/// One pending deadline: when it expires and who waits for it.
///
/// Unchecked `Sendable`: `deadline` is immutable; `index`, `continuation` and `cancelled` are read
/// and written only with the lock of the one ``DeadlineTimers`` the entry is given to held (per
/// sleep, no lock of its own).
final class TimerEntry: @unchecked Sendable {
    /// When the entry expires, in ``DeadlineTimers/now()`` nanoseconds.
    let deadline: UInt64
    /// The entry's position in its heap; `nil` while it is not in one.
    @exclusivity(unchecked)
    var index: Int?
    /// The task sleeping until the deadline, once it has suspended.
    @exclusivity(unchecked)
    var continuation: UnsafeContinuation<Void, any Error>?
    /// Set when the sleeper was cancelled before its entry was scheduled.
    @exclusivity(unchecked)
    var cancelled = false

    init(deadline: UInt64) {
        self.deadline = deadline
    }
}

/// A binary min-heap of ``TimerEntry`` ordered by deadline, in which every entry knows its own
/// position, so that removing a cancelled entry costs O(log n) and frees it at once.
///
/// Not thread-safe: its owner guards it.
struct TimerHeap {
    private var entries: [TimerEntry] = []

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// How many entries satisfy `predicate`.
    func count(where predicate: (TimerEntry) -> Bool) -> Int {
        entries.reduce(0) { $0 + (predicate($1) ? 1 : 0) }
    }

    /// The entry that expires first.
    var first: TimerEntry? { entries.first }

    mutating func insert(_ entry: TimerEntry) {
        precondition(entry.index == nil, "a timer entry is in a heap already")
        entries.append(entry)
        entry.index = entries.count - 1
        siftUp(entries.count - 1)
    }

    /// Removes and returns the entry that expires first.
    mutating func popFirst() -> TimerEntry? {
        guard let first = entries.first else { return nil }
        remove(first)
        return first
    }

    /// Removes `entry`; `false` if it is not in the heap (it expired or was removed already).
    @discardableResult
    mutating func remove(_ entry: TimerEntry) -> Bool {
        guard let index = entry.index, index < entries.count, entries[index] === entry else { return false }
        let last = entries.count - 1
        if index != last {
            entries.swapAt(index, last)
            entries[index].index = index
        }
        entries.removeLast()
        entry.index = nil
        if index < entries.count {
            siftDown(index)
            siftUp(index)
        }
        // An emptied heap gives its storage back (a burst of requests should not leave it behind).
        if entries.isEmpty && entries.capacity > 1024 { entries = [] }
        return true
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { return }
            swap(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { return }
            let right = left + 1
            var smallest = left
            if right < entries.count && entries[right].deadline < entries[left].deadline { smallest = right }
            guard entries[smallest].deadline < entries[parent].deadline else { return }
            swap(parent, smallest)
            parent = smallest
        }
    }

    private mutating func swap(_ a: Int, _ b: Int) {
        entries.swapAt(a, b)
        entries[a].index = a
        entries[b].index = b
    }
}
