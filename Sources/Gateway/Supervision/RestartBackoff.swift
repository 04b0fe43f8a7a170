/// The delay before starting a worker again after workers died without serving anything (a
/// crash at startup, a broken deployment): 0.1 s, doubling with each such death in a row, up to
/// 10 s. The supervisor never gives up; a worker that served requests, or that was started after
/// the last failure and stayed up for ``settledNanos``, resets it (workers that were up before do
/// not: during a reload whose new build cannot start, the old generation serves on).
///
/// A worker that dies while serving is not a crash loop of the program: each such death costs a
/// request that reached it, so replacing it at once cannot spin on its own.
struct RestartBackoff: Sendable, Equatable {
    static let firstDelayNanos: UInt64 = 100_000_000
    static let maximumDelayNanos: UInt64 = 10_000_000_000
    /// How long a worker stays up before its start counts as a success.
    static let settledNanos: UInt64 = 10_000_000_000

    /// Startup failures in a row.
    private(set) var failures = 0
    /// No worker starts before this time (monotonic nanoseconds).
    private(set) var notBefore: UInt64 = 0
    /// When the last failure was recorded.
    private(set) var lastFailureAt: UInt64 = 0

    /// Records a worker that died without serving; returns the delay before the next start.
    mutating func failed(at now: UInt64) -> UInt64 {
        failures += 1
        lastFailureAt = now
        let delay = min(Self.maximumDelayNanos, Self.firstDelayNanos << UInt64(min(failures - 1, 20)))
        notBefore = now + delay
        return delay
    }

    /// Records a worker that served, or settled.
    mutating func succeeded() {
        failures = 0
        notBefore = 0
    }

    /// Whether a worker may start at `now`.
    func allowsStart(at now: UInt64) -> Bool {
        now >= notBefore
    }
}
