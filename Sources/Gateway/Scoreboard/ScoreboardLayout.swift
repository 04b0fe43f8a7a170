/// Where each value lives in the scoreboard's shared memory, in 64-bit words.
///
/// ```text
/// header (16 words) | slot 0 | slot 1 | …
/// slot: slot header (16 words) | request entry 0 | … | request entry 63
/// request entry (32 words): sequence | start | lengths | "METHOD PATH" (29 words, 232 bytes)
/// ```
///
/// Every word is read and written with atomic operations only, so processes that map the same
/// memory never race in the language's sense. The supervisor and every worker compute the same
/// layout: the slot count is in the header, the rest is fixed.
enum ScoreboardLayout {
    /// "SWASGISB" in ASCII: marks memory laid out by this version.
    static let magic: UInt64 = 0x5357_4153_4749_5342
    static let headerWords = 16
    static let slotHeaderWords = 16
    /// Requests a worker tracks one by one; more in flight are counted but not named.
    static let entriesPerSlot = 64
    static let entryWords = 32
    static let entryTextWords = entryWords - 3
    /// Bytes of "METHOD PATH" an entry keeps; longer paths are cut.
    static let entryTextBytes = entryTextWords * 8
    static let slotWords = slotHeaderWords + entriesPerSlot * entryWords

    /// Bytes of a scoreboard with `slots` slots.
    static func byteCount(slots: Int) -> Int {
        (headerWords + slots * slotWords) * 8
    }

    /// Header words.
    enum Header {
        static let magic = 0
        static let slotCount = 1
        static let supervisorPID = 2
        static let startedAtWallSeconds = 3
        static let startedAtMonotonicNanos = 4
        static let configuredWorkers = 5
        static let generation = 6
        static let unexpectedDeaths = 7
        static let workerTimeouts = 8
        static let recycledWorkers = 9
        static let reloads = 10
        /// 0: serving in this process (`--workers 0`); 1: a supervisor and worker processes.
        static let supervised = 11
        /// Requests served by worker processes that are gone (so totals never go back).
        static let requestsServedByGoneWorkers = 12
    }

    /// Slot header words.
    enum Slot {
        static let state = 0
        static let pid = 1
        static let number = 2
        static let generation = 3
        static let spawnedAtMonotonicNanos = 4
        static let readyAtMonotonicNanos = 5
        static let requestsServed = 6
        static let residentBytes = 7
        static let recycleReason = 8
        static let untrackedInFlight = 9
        static let maxRequests = 10
        static let memoryLimitBytes = 11
    }

    /// Request entry words.
    enum Entry {
        /// A sequence lock: `sequence & 3` is 0 when free, 1 while being written, 2 when it holds
        /// a request. Each use advances it by 4, so a reader that sees the same value before and
        /// after reading the other words read one request whole.
        static let sequence = 0
        static let startMonotonicNanos = 1
        /// Method length (bits 0-15), path length (bits 16-31), path cut (bit 32).
        static let lengths = 2
        static let text = 3
    }
}
