import ASGIConformance
import Foundation
import Glibc
import TestSupport
import Testing

/// SIGHUP reloads with zero downtime (from the executable on disk), SIGTERM drains, SIGQUIT stops
/// at once, and workers never outlive their supervisor.
@Suite("Supervisor: reload and shutdown")
struct LifecycleSignalTests {
    /// SIGHUP under load: no failed request, and afterwards only new workers answer.
    @Test(arguments: ["wsgi", "asgi"])
    func reloadUnderLoad(kind: String) async throws {
        try await withTestDirectory("sv-reload") { directory in
            let app = try await SupervisedApp.start(
                in: directory,
                kind: kind,
                arguments: ["--workers", "2", "--threads", "4", "--status", "/status"]
            )
            let load = try LoadClient(url: "http://127.0.0.1:\(app.port!)/", connections: 8, in: directory)
            try await onFailure({
                await load.stop()
                await app.stop()
            }) {
                let before = try await app.workerPIDs()
                try await eventually("load reaching the workers") { (try? await app.status()["requests_served"] as? Int ?? 0) ?? 0 > 100 }
                app.process.signal(SIGHUP)
                try await app.waitForLog("worker(s) ready (generation 1")
                try await eventually("the old workers gone") { before.allSatisfy(processIsGone) }
                let served = try await app.status()["requests_served"] as? Int ?? 0
                try await eventually("load on the new workers") { (try? await app.status()["requests_served"] as? Int ?? 0) ?? 0 > served + 100 }
                let summary = try await load.finish()
                #expect(summary.errors.isEmpty, "\(summary.errors)")
                #expect(summary.statuses.isEmpty, "\(summary.statuses)")
                #expect(summary.ok == summary.requests)
                let after = try await app.workerPIDs()
                #expect(after.count == 2 && after.isDisjoint(with: before))
                #expect(try await app.status()["generation"] as? Int == 1)
                #expect(app.logLines(containing: "died").isEmpty)
            }
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }

    /// A new build deployed over the executable: workers replaced after a crash keep running the
    /// build their generation started with; SIGHUP starts the new one (HelloLegacy here).
    @Test func reloadPicksUpTheExecutableOnDisk() async throws {
        try await withTestDirectory("sv-deploy") { directory in
            let installed = directory.file("app")
            try copyExecutable(try builtExecutable("FaultyApp"), to: installed)
            let app = try await SupervisedApp.start(
                in: directory,
                arguments: ["--workers", "1", "--status", "/status"],
                environment: ["SWIFT_BACKTRACE": "enable=no"],
                executable: installed
            )
            try await onFailure({ await app.stop() }) {
                // Deploy as installers do: write the new file beside, rename it over the old one.
                try copyExecutable(try builtExecutable("HelloLegacy"), to: installed + ".new")
                #expect(rename(installed + ".new", installed) == 0)
                await #expect(throws: (any Error).self) { try await app.get("/trap") }
                let respawned = try await app.get("/pid")
                #expect(respawned.status == 200 && Int32(respawned.text) != nil, "generation 0 still runs FaultyApp")
                app.process.signal(SIGHUP)
                try await app.waitForLog("worker(s) ready (generation 1")
                try await eventually("the new build answering") {
                    (try? await app.get("/").text.contains("HelloLegacy")) ?? false
                }
            }
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }

    /// SIGTERM with requests in flight: they complete, every worker stops, the supervisor exits 0.
    @Test func sigtermFinishesRequestsInFlight() async throws {
        try await withTestDirectory("sv-term") { directory in
            let app = try await SupervisedApp.start(in: directory, arguments: ["--workers", "2", "--threads", "4", "--status", "/status"])
            try await onFailure({ await app.stop() }) {
                let workers = try await app.workerPIDs()
                // Four requests that stay in flight until the test opens their gate.
                let gate = directory.file("gate")
                async let waiting = withThrowingTaskGroup(of: RawResponse.self) { group in
                    for _ in 0..<4 {
                        group.addTask { try await app.get("/wait?file=\(gate)", timeout: .seconds(120)) }
                    }
                    return try await group.reduce(into: [RawResponse]()) { $0.append($1) }
                }
                defer { _ = FileManager.default.createFile(atPath: gate, contents: nil) }
                try await eventually("four requests in flight", timeout: .seconds(60)) {
                    (try? await app.status()["requests_in_flight"] as? Int) == 4
                }
                app.process.signal(SIGTERM)
                try await app.waitForLog("Shutting down (SIGTERM)")
                #expect(FileManager.default.createFile(atPath: gate, contents: nil))
                let responses = try await waiting
                #expect(responses.map(\.status) == [200, 200, 200, 200])
                #expect(responses.allSatisfy { $0.text == "open" })
                #expect(try await app.process.wait(timeout: .seconds(60)) == 0)
                #expect(workers.allSatisfy(processIsGone))
                #expect(app.logLines(containing: "stopped (exited with status 0)").count == 2)
            }
        }
    }

    /// SIGTERM while requests wait in the FastCGI socket's queue (the one worker thread busy):
    /// they were sent by the web server, which waits for them, so they are accepted and answered
    /// rather than reset when the socket closes.
    @Test func sigtermServesTheRequestsQueuedOnTheSocket() async throws {
        try await withTestDirectory("sv-drain") { directory in
            let app = try await SupervisedApp.start(in: directory, fastCGI: true, arguments: ["--workers", "1", "--threads", "1"])
            try await onFailure({ await app.stop() }) {
                let socket = app.socket!
                let gate = directory.file("gate")
                defer { _ = FileManager.default.createFile(atPath: gate, contents: nil) }
                let request = { @Sendable (uri: String) in
                    FastCGIWire.request(params: [
                        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", uri), ("SERVER_PROTOCOL", "HTTP/1.1"), ("HTTP_HOST", "drain.test"),
                    ])
                }
                let answers = try await offPool { () -> [String] in
                    // The one thread waits on the gate...
                    let first = try RawConnection(unixPath: socket)
                    first.send(request("/wait?file=\(gate)"))
                    let deadline = ContinuousClock.now + .seconds(60)
                    while (try? rawGet(port: app.port!, path: "/status?json", timeout: .seconds(10)).text.contains("\"requests_in_flight\":1"))
                        != true
                    {
                        guard ContinuousClock.now < deadline else { throw TestFailure("the waiting request never started") }
                        usleep(10_000)
                    }
                    // ...while two more requests wait in the socket's queue.
                    let queued = try (0..<2).map { _ in try RawConnection(unixPath: socket) }
                    for connection in queued { connection.send(request("/")) }
                    app.process.signal(SIGTERM)
                    while app.logLines(containing: "FastCGI server stopping").isEmpty {
                        guard ContinuousClock.now < deadline, app.process.poll() == nil else {
                            throw TestFailure("the worker did not start stopping")
                        }
                        usleep(10_000)
                    }
                    _ = FileManager.default.createFile(atPath: gate, contents: nil)
                    return ([first] + queued).map { String(decoding: $0.readResponse().stdout, as: UTF8.self) }
                }
                #expect(answers.count == 3)
                #expect(answers.allSatisfy { $0.hasPrefix("Status: 200 OK") }, "\(answers)")
                #expect(answers.dropFirst().allSatisfy { $0.hasSuffix("hello") }, "\(answers)")
                #expect(try await app.process.wait(timeout: .seconds(60)) == 0)
            }
        }
    }

    /// SIGKILL of the supervisor: its workers notice and exit by themselves.
    @Test func workersExitWhenTheSupervisorIsKilled() async throws {
        try await withTestDirectory("sv-kill") { directory in
            let app = try await SupervisedApp.start(in: directory, fastCGI: true, arguments: ["--workers", "2", "--status", "/status"])
            let workers = try await app.workerPIDs()
            #expect(workers.count == 2)
            app.process.signal(SIGKILL)
            _ = try await app.process.wait(timeout: .seconds(10))
            try await eventually("the workers gone", timeout: .seconds(30)) { workers.allSatisfy(processIsGone) }
        }
    }

    /// SIGQUIT: every worker is killed at once, requests in flight included.
    @Test func sigquitStopsAtOnce() async throws {
        try await withTestDirectory("sv-quit") { directory in
            let app = try await SupervisedApp.start(in: directory, arguments: ["--workers", "2", "--status", "/status"])
            let workers = try await app.workerPIDs()
            async let hung = try? app.get("/hang")
            try await eventually("the request in flight") { (try? await app.status()["requests_in_flight"] as? Int) == 1 }
            app.process.signal(SIGQUIT)
            #expect(try await app.process.wait(timeout: .seconds(20)) == 0)
            #expect(await hung == nil)
            #expect(workers.allSatisfy(processIsGone))
            #expect(!app.logLines(containing: "Stopping at once (SIGQUIT)").isEmpty)
        }
    }
}

/// Copies an executable with a close-on-exec descriptor: a process another test spawns meanwhile
/// must not inherit it open for writing (exec would then fail with ETXTBSY for as long as it runs).
func copyExecutable(_ source: String, to destination: String) throws {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
    let fd = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
    guard fd >= 0 else { throw TestFailure("open \(destination) failed: errno \(errno)") }
    defer { close(fd) }
    try bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
            guard written > 0 else { throw TestFailure("write \(destination) failed: errno \(errno)") }
            offset += written
        }
    }
}

/// The systemd unit's way (deploy/systemd): the listening socket inherited on fd 0, handed by the
/// supervisor to its workers, kept across a reload, and left in place at exit for its owner.
@Suite("Supervisor: socket activation")
struct SocketActivationTests {
    @Test func inheritedSocketServedByWorkers() async throws {
        try await withTestDirectory("sv-activation") { directory in
            let path = directory.file("activated.sock")
            let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: Array(path.utf8))
                raw[path.utf8.count] = 0
            }
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0 && listen(listener, 64) == 0)
            let process = try ChildProcess(
                try builtExecutable("FaultyApp"),
                ["--fastcgi", "stdin", "--workers", "2", "--status", "/status"],
                stdin: .descriptor(listener),
                stdoutPath: directory.file("app.out"),
                stderrPath: directory.file("app.log")
            )
            close(listener)
            let nginx = try await Nginx.start(
                in: directory,
                backend: "unix:\(path)",
                locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }"
            )
            try await onFailure({
                await nginx.stop()
                await process.stop()
            }) {
                try await eventually("two workers ready") { process.standardError.contains("worker(s) ready (generation 0") }
                let first = try await curl("\(nginx.url)/status?json&full", in: directory)
                #expect(first.json["total_processes"] as? Int == 2)
                #expect(try await curl("\(nginx.url)/", in: directory).text == "hello")
                process.signal(SIGHUP)
                try await eventually("the reload done") { process.standardError.contains("worker(s) ready (generation 1") }
                #expect(try await curl("\(nginx.url)/", in: directory).text == "hello")
                process.signal(SIGTERM)
                #expect(try await process.wait(timeout: .seconds(60)) == 0)
                #expect(FileManager.default.fileExists(atPath: path), "the inherited socket stays for its owner")
            }
            await nginx.stop()
        }
    }
}
