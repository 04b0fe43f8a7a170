import Foundation
import Glibc
import TestSupport
import Testing

/// Workers are replaced after `--max-requests` (plus jitter) and past `--worker-memory-limit`
/// under load, with no failed request: the replacement accepts before the old worker stops.
@Suite("Supervisor: recycling", .serialized)
struct RecyclingTests {
    @Test func recyclingByRequestCountUnderLoad() async throws {
        try await withTestDirectory("sv-recycle") { directory in
            let app = try await SupervisedApp.start(
                in: directory,
                arguments: [
                    "--workers", "2", "--threads", "4", "--max-requests", "40", "--max-requests-jitter", "10",
                    "--status", "/status", "--log-level", "info",
                ]
            )
            let load = try LoadClient(url: "http://127.0.0.1:\(app.port!)/", connections: 6, in: directory)
            try await onFailure({
                await load.stop()
                await app.stop()
            }) {
                try await app.waitForLog("stopped (exited with status 0)", count: 6, timeout: .seconds(120))
                let summary = try await load.finish()
                #expect(summary.errors.isEmpty, "\(summary.errors)")
                #expect(summary.statuses.isEmpty, "\(summary.statuses)")
                #expect(summary.ok == summary.requests && summary.ok > 200)
                #expect(summary.pids.count >= 6, "\(summary.pids)")
                #expect(app.logLines(containing: "(--max-requests 40)").count >= 6)
                #expect(app.logLines(containing: "died").isEmpty)
            }
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }

    /// A route that leaks 32 MiB per request (touched): workers past 160 MiB are replaced, and the
    /// whole process tree's resident memory stays bounded while many times that leaks.
    @Test func recyclingByMemoryUnderLoad() async throws {
        try await withTestDirectory("sv-memory") { directory in
            let app = try await SupervisedApp.start(
                in: directory,
                arguments: [
                    "--workers", "2", "--threads", "2", "--worker-memory-limit", "160", "--status", "/status",
                ]
            )
            let load = try LoadClient(url: "http://127.0.0.1:\(app.port!)/leak?mib=32", connections: 2, rate: 8, in: directory)
            try await onFailure({
                await load.stop()
                await app.stop()
            }) {
                var peak: UInt64 = 0
                var served = 0
                let deadline = ContinuousClock.now + .seconds(150)
                // Until the workers have leaked 2.5 GiB (80 x 32 MiB), twice what the tree may hold.
                while served < 80 {
                    peak = max(peak, treeResidentBytes(app.process.pid))
                    served = (try? await app.status()["requests_served"] as? Int) ?? served
                    if ContinuousClock.now > deadline { throw TestFailure("only \(served) leaks served: \(app.log.suffix(1500))") }
                    try await Task.sleep(for: .milliseconds(20))
                }
                let summary = try await load.finish()
                #expect(summary.errors.isEmpty, "\(summary.errors)")
                #expect(summary.statuses.isEmpty, "\(summary.statuses)")
                #expect(summary.ok >= 80)
                #expect(peak < 1_200 << 20, "peak resident memory of the tree: \(peak >> 20) MiB")
                #expect(app.logLines(containing: "(--worker-memory-limit 160 MiB): starting its replacement").count >= 6)
                #expect(app.logLines(containing: "died").isEmpty)
            }
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }
}
