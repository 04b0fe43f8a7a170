import ASGI
import Testing

/// A failure that repeats every 100 ms (accept past the descriptor limit) is reported
/// once, then at most once per interval with the count it left out.
@Suite("Rate-limited failure reports")
struct RateLimitedReportTests {
    @Test func reportsTheFirstThenOncePerIntervalWithWhatItLeftOut() {
        var report = RateLimitedReport(interval: 10_000)
        #expect(report.shouldLog(at: 1_000) == 0)
        #expect(report.shouldLog(at: 1_100) == nil)
        #expect(report.shouldLog(at: 10_999) == nil)
        #expect(report.shouldLog(at: 11_000) == 2)
        #expect(report.shouldLog(at: 11_001) == nil)
        #expect(report.shouldLog(at: 50_000) == 1)
        #expect(report.shouldLog(at: 90_000) == 0)
    }
}
