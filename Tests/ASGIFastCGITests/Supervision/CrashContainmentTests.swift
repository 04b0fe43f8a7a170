import ASGIConformance
import Foundation
import Glibc
import TestSupport
import Testing

/// A handler that traps costs its request, never the service: the supervisor replaces the worker
/// at once and logs the request it was serving, with the signal by name.
@Suite("Supervisor: crashes")
struct CrashContainmentTests {
    /// A trap (force-unwrapping nil) in a WSGI-style handler over HTTP, with the Swift runtime's
    /// backtrace on as by default: the client's connection ends without a response, the next 20
    /// requests succeed, the supervisor stays up, and its log names the worker, the pid, the signal
    /// and the request.
    @Test func trapCostsOneRequest() async throws {
        try await withTestDirectory("sv-trap") { directory in
            let app = try await SupervisedApp.start(in: directory, arguments: ["--workers", "1", "--threads", "4"])
            try await onFailure({ await app.stop() }) {
                let before = try await app.workerPIDs()
                await #expect(throws: (any Error).self) { try await app.get("/trap") }
                for index in 0..<20 {
                    let response = try await app.get("/?n=\(index)")
                    #expect(response.status == 200 && response.text == "hello")
                }
                #expect(app.process.poll() == nil, "the supervisor must stay up")
                try await app.waitForLog("died on")
                let death = try #require(app.logLines(containing: "died on").first)
                let pid = try #require(before.first)
                #expect(death.contains("Worker 1 (pid \(pid))"), "\(death)")
                #expect(death.contains("SIGILL") || death.contains("SIGTRAP"), "\(death)")
                #expect(death.contains("while serving GET /trap (for "), "\(death)")
                #expect(try await app.workerPIDs().isDisjoint(with: before))
                #expect(try await app.status()["worker_deaths"] as? Int == 1)
            }
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }

    /// Ten traps in a row (force-unwrap and index out of range, in an ASGI application) with one
    /// worker: every one is contained, and the service still answers. The runtime's backtrace is
    /// off here only to keep the test's CPU use small; the test above runs with it.
    @Test func tenTrapsInARow() async throws {
        try await withTestDirectory("sv-traps") { directory in
            let app = try await SupervisedApp.start(
                in: directory,
                kind: "asgi",
                arguments: ["--workers", "1"],
                environment: ["SWIFT_BACKTRACE": "enable=no"]
            )
            try await onFailure({ await app.stop() }) {
                for index in 0..<10 {
                    await #expect(throws: (any Error).self) { try await app.get(index % 2 == 0 ? "/trap" : "/index") }
                }
                let response = try await app.get("/")
                #expect(response.status == 200 && response.text == "hello")
                try await app.waitForLog("died on", count: 10)
                #expect(app.logLines(containing: "while serving GET /trap").count == 5)
                #expect(app.logLines(containing: "while serving GET /index").count == 5)
                #expect(app.logLines(containing: "before it served a request").isEmpty, "deaths while serving never back off")
                #expect(app.process.poll() == nil)
            }
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }

    /// Behind a real nginx over FastCGI: the trapping request gets nginx's 502, the requests that
    /// follow are served, and the death is logged with the request.
    @Test func trapBehindNginx() async throws {
        try await withTestDirectory("sv-trap-fcgi") { directory in
            let app = try await SupervisedApp.start(
                in: directory,
                http: false,
                fastCGI: true,
                arguments: ["--workers", "2", "--threads", "2"]
            )
            let nginx = try await Nginx.start(
                in: directory,
                backend: "unix:\(app.socket!)",
                locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }"
            )
            try await onFailure({
                await nginx.stop()
                await app.stop()
            }) {
                let trap = try await curl("\(nginx.url)/trap", in: directory)
                #expect(trap.status == 502)
                for _ in 0..<20 {
                    let response = try await curl("\(nginx.url)/", in: directory)
                    #expect(response.status == 200 && response.text == "hello")
                }
                try await app.waitForLog("died on")
                let death = try #require(app.logLines(containing: "died on").first)
                #expect(death.contains("while serving GET /trap"), "\(death)")
            }
            await nginx.stop()
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }
}
