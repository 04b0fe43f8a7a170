import Glibc

/// When a repeating failure is worth a log line: the first time, then at most once per
/// `interval`, counting the occurrences left out in between.
package struct RateLimitedReport: Sendable {
    /// The least time between two reports, in nanoseconds.
    package let interval: UInt64
    private var lastReport: UInt64? = nil
    private var suppressed = 0

    package init(interval: UInt64) {
        self.interval = interval
    }

    /// Records an occurrence at `now` (monotonic nanoseconds): the number of occurrences left out
    /// since the last report when this one should be reported, else `nil`.
    package mutating func shouldLog(at now: UInt64) -> Int? {
        if let last = lastReport, now &- last < interval {
            suppressed += 1
            return nil
        }
        defer { suppressed = 0 }
        lastReport = now
        return suppressed
    }

    /// ``shouldLog(at:)`` now, on the monotonic clock.
    package mutating func shouldLogNow() -> Int? {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return shouldLog(at: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec))
    }
}
