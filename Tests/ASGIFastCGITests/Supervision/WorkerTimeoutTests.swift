import Foundation
import Glibc
import Testing

/// Handlers that never return cost capacity for `--worker-timeout` only: the stuck worker is
/// replaced (a new one first), then killed.
@Suite("Supervisor: worker timeout")
struct WorkerTimeoutTests {
    /// Two workers of four threads each, every thread stuck in a request that never returns (the
    /// service answers nothing but 504s): each stuck client still gets its 504 at
    /// `--request-timeout`, and after `--worker-timeout` the service answers again from new
    /// workers. The log names the stuck request, and both stuck workers are killed.
    @Test(arguments: ["http", "fastcgi"])
    func hungWorkersAreReplaced(frontend: String) async throws {
        try await withTestDirectory("sv-hang") { directory in
            let app = try await SupervisedApp.start(in: directory, http: true, fastCGI: frontend == "fastcgi", arguments: [
                "--workers", "2", "--threads", "4", "--request-timeout", "1", "--worker-timeout", "3", "--graceful-timeout", "2",
            ])
            let nginx = frontend == "fastcgi"
                ? try await Nginx.start(in: directory, backend: "unix:\(app.socket!)", locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }")
                : nil
            try await onFailure({ await nginx?.stop(); await app.stop() }) {
                let before = try await app.workerPIDs()
                let stuck = try await withThrowingTaskGroup(of: Int?.self) { group in
                    if let nginx {
                        // A FastCGI worker thread accepts only when it is free: eight requests
                        // take the eight threads.
                        for _ in 0..<8 {
                            group.addTask { try await curl("\(nginx.url)/hang", in: directory).status }
                        }
                    } else {
                        // The HTTP server accepts connections whether or not a thread is free
                        // (the workers take turns at accepting): hang requests one at a time until
                        // all eight threads hold one. One that lands on a worker whose threads are
                        // all stuck waits, and gets its 504, without running.
                        var sent = 0
                        try await eventually("eight stuck requests", timeout: .seconds(60)) {
                            guard let inFlight = try? await app.status()["requests_in_flight"] as? Int else { return false }
                            if inFlight == 8 { return true }
                            guard sent < 24 else { return false }
                            sent += 1
                            // One may still wait on a stuck worker when it is killed: its
                            // connection then closes without an answer (nil).
                            group.addTask { try? await app.get("/hang").status }
                            // Until it is stuck, or has had its 504.
                            let deadline = ContinuousClock.now + .milliseconds(1500)
                            while ContinuousClock.now < deadline,
                                  (try? await app.status()["requests_in_flight"] as? Int) == inFlight {
                                try await Task.sleep(for: .milliseconds(20))
                            }
                            return false
                        }
                    }
                    return try await group.reduce(into: [Int?]()) { $0.append($1) }
                }
                #expect(stuck.filter { $0 == 504 }.count >= 8, "\(stuck)")
                #expect(stuck.allSatisfy { $0 == 504 || $0 == nil }, "\(stuck)")
                if nginx != nil { #expect(stuck.count == 8 && !stuck.contains(nil)) }
                try await eventually("an answer from a new worker", timeout: .seconds(60)) {
                    guard let response = try? await app.get("/pid", timeout: .seconds(2)), response.status == 200,
                          let pid = Int32(response.text) else { return false }
                    return !before.contains(pid)
                }
                try await app.waitForLog("Killing worker", count: 2, timeout: .seconds(30))
                let warning = try #require(app.logLines(containing: "has been serving").first)
                #expect(warning.contains("GET /hang for") && warning.contains("past --worker-timeout 3.000 s"), "\(warning)")
                try await eventually("the stuck workers gone") { before.allSatisfy(processIsGone) }
                #expect((try await app.status()["worker_timeouts"] as? Int ?? 0) == 2)
                for _ in 0..<4 {
                    #expect(try await app.get("/").status == 200)
                }
            }
            await nginx?.stop()
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }
}
