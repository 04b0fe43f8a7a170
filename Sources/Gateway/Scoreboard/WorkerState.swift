/// What a scoreboard slot's process is doing, as its state word holds it.
enum WorkerState: UInt64, Sendable {
    /// The slot holds no process.
    case free = 0
    /// Spawned, not accepting yet.
    case starting = 1
    /// Accepting and serving.
    case ready = 2
    /// Told to stop accepting; finishing what it has.
    case draining = 3
    /// It received a crash signal (a trap, a segmentation fault) and is dying: its crash handler
    /// wrote this before the runtime's backtrace, so that a replacement starts at once.
    case crashed = 4
}

/// Why a worker asks its supervisor to replace it, as its recycle word holds it.
enum RecycleReason: UInt64, Sendable {
    case none = 0
    /// It served `--max-requests` (plus its jitter).
    case maxRequests = 1
    /// Its resident memory passed `--worker-memory-limit`.
    case memory = 2
}
