import ASGIConformance
import Foundation
import Glibc
import TestSupport
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
            let app = try await SupervisedApp.start(
                in: directory,
                http: true,
                fastCGI: frontend == "fastcgi",
                arguments: [
                    "--workers", "2", "--threads", "4", "--request-timeout", "1", "--worker-timeout", "30", "--graceful-timeout", "2",
                ]
            )
            let nginx =
                frontend == "fastcgi"
                ? try await Nginx.start(
                    in: directory,
                    backend: "unix:\(app.socket!)",
                    locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }"
                )
                : nil
            try await onFailure({
                await nginx?.stop()
                await app.stop()
            }) {
                let before = try await app.workerPIDs()
                let stuck = try await withThrowingTaskGroup(of: Int?.self) { group in
                    if let nginx {
                        // A FastCGI worker thread accepts only when it is free: eight requests
                        // take the eight threads.
                        for _ in 0..<8 {
                            group.addTask { try await curl("\(nginx.url)/hang", in: directory).status }
                        }
                    } else {
                        // The HTTP server accepts connections whether or not a thread is free, and
                        // a burst of connections may all go to one worker. So the test first opens
                        // keep-alive connections one at a time (the workers take turns at
                        // accepting) until it holds four on each worker, then hangs all eight.
                        var byWorker: [Int32: [KeepAliveConnection]] = [:]
                        var opened = 0
                        try await eventually("four connections on each worker", timeout: .seconds(60)) {
                            guard opened < 200 else {
                                throw TestFailure("200 connections did not reach both workers: \(byWorker.mapValues(\.count))")
                            }
                            opened += 1
                            let connection = try await offPool { try KeepAliveConnection(port: app.port!) }
                            let answer = try await offPool { try connection.get("/pid") }
                            guard answer.status == 200, let pid = Int32(answer.text), before.contains(pid) else {
                                throw TestFailure("/pid answered \(answer.status) \(answer.text)")
                            }
                            if byWorker[pid, default: []].count < 4 { byWorker[pid, default: []].append(connection) }
                            return byWorker.count == 2 && byWorker.values.allSatisfy { $0.count == 4 }
                        }
                        for connection in byWorker.values.joined() {
                            // Its 504 comes at --request-timeout; a connection that ends instead is nil.
                            group.addTask { try? await offPool { try connection.get("/hang") }.status }
                        }
                    }
                    var seen: [Int] = []
                    try await eventually("eight stuck requests (seen: \(seen))", timeout: .seconds(60)) {
                        let inFlight = (try? await app.status()["requests_in_flight"] as? Int) ?? -1
                        if seen.last != inFlight { seen.append(inFlight) }
                        return inFlight == 8
                    }
                    return try await group.reduce(into: [Int?]()) { $0.append($1) }
                }
                #expect(stuck == Array(repeating: 504, count: 8), "\(stuck)")
                try await eventually("an answer from a new worker", timeout: .seconds(60)) {
                    guard let response = try? await app.get("/pid", timeout: .seconds(2)), response.status == 200,
                        let pid = Int32(response.text)
                    else { return false }
                    return !before.contains(pid)
                }
                try await app.waitForLog("Killing worker", count: 2, timeout: .seconds(30))
                let warning = try #require(app.logLines(containing: "has been serving").first)
                #expect(warning.contains("GET /hang for") && warning.contains("past --worker-timeout 30.000 s"), "\(warning)")
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
