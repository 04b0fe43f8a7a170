import ASGIConformance
import Foundation
import Glibc
import TestSupport
import Testing

/// The status and ping paths over both frontends, systemd's notify socket, `--workers 0`, and the
/// process model's options.
@Suite("Supervisor: status, ping, systemd notify, options")
struct StatusAndNotifyTests {
    /// Two workers serving HTTP and FastCGI (behind nginx): ping answers on both, and the status
    /// (text, JSON, per worker) covers every worker whichever one answers, including a request
    /// in flight on another.
    @Test(arguments: ["wsgi", "asgi"])
    func statusAndPingOnBothFrontends(kind: String) async throws {
        try await withTestDirectory("sv-status") { directory in
            let app = try await SupervisedApp.start(
                in: directory,
                kind: kind,
                fastCGI: true,
                arguments: ["--workers", "2", "--threads", "2", "--status", "/status", "--ping", "/ping"]
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
                #expect(try await app.get("/ping").text == "pong\n")
                let ping = try await curl("\(nginx.url)/ping", in: directory)
                #expect(ping.status == 200 && ping.text == "pong\n")

                let workers = try await app.workerPIDs()
                #expect(workers.count == 2)
                // A request that stays in flight until the test opens its gate.
                let gate = directory.file("gate")
                async let slow = app.get("/wait?file=\(gate)", timeout: .seconds(120))
                // Declared after it, so it runs first: a failure opens the gate before the scope
                // waits for the request.
                defer { _ = FileManager.default.createFile(atPath: gate, contents: nil) }
                for _ in 0..<3 {
                    let status = try await curl("\(nginx.url)/status?json&full", in: directory)
                    #expect(status.status == 200)
                    #expect(status.header("Content-Type")?.hasPrefix("application/json") == true)
                    #expect(status.json["workers"] as? Int == 2)
                    #expect(status.json["total_processes"] as? Int == 2)
                    #expect(status.json["process_manager"] as? String == "supervisor")
                    let processes = status.json["processes"] as? [[String: Any]] ?? []
                    #expect(Set(processes.compactMap { ($0["pid"] as? Int).map { Int32($0) } }) == workers)
                }
                try await eventually("the waiting request on the status page", timeout: .seconds(60)) {
                    let status = try await curl("\(nginx.url)/status?json&full", in: directory)
                    let requests = (status.json["processes"] as? [[String: Any]] ?? []).flatMap { $0["requests"] as? [[String: Any]] ?? [] }
                    return requests.contains { $0["method"] as? String == "GET" && $0["path"] as? String == "/wait" }
                }
                let text = try await curl("\(nginx.url)/status?full", in: directory)
                let lines = statusLines(text.text)
                #expect(lines.first { $0.label == "process manager" }?.value == "supervisor")
                #expect(lines.filter { $0.label == "worker" }.map(\.value).sorted() == ["1", "2"])
                #expect(lines.contains { $0.label == "request" && $0.value.hasPrefix("GET /wait (") })
                let plain = try await app.get("/status")
                #expect(plain.status == 200 && plain.text.hasPrefix("pool:"))
                #expect(!plain.text.contains("worker:"))
                #expect(FileManager.default.createFile(atPath: gate, contents: nil))
                #expect(try await slow.status == 200)
            }
            await nginx.stop()
            await app.stop()
            #expect(app.process.poll() == 0)
        }
    }

    /// With NOTIFY_SOCKET set (an abstract name, as systemd may give), the supervisor sends
    /// READY=1 once its workers accept, RELOADING=1 then READY=1 around a SIGHUP, and STOPPING=1.
    @Test func systemdNotifications() async throws {
        try await withTestDirectory("sv-notify") { directory in
            let name = "swift-asgi-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let receiver = try DatagramReceiver(abstractName: name)
            defer { receiver.close() }
            let app = try await SupervisedApp.start(
                in: directory,
                arguments: ["--workers", "2"],
                environment: ["NOTIFY_SOCKET": "@" + name]
            )
            try await onFailure({ await app.stop() }) {
                let ready = try await receiver.next()
                #expect(ready.contains("READY=1"), "\(ready)")
                #expect(ready.contains("MAINPID=\(app.process.pid)"), "\(ready)")
                app.process.signal(SIGHUP)
                let reloading = try await receiver.next()
                #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), "\(reloading)")
                #expect(try await receiver.next().contains("READY=1"))
                app.process.signal(SIGTERM)
                #expect(try await receiver.next() == "STOPPING=1")
                #expect(try await app.process.wait(timeout: .seconds(60)) == 0)
            }
        }
    }

    /// `--workers 0` serves in the runner's own process, status and ping included.
    @Test func inProcess() async throws {
        try await withTestDirectory("sv-inprocess") { directory in
            let port = try freeLoopbackPort()
            let process = try ChildProcess(
                try builtExecutable("FaultyApp"),
                ["--http", "127.0.0.1:\(port)", "--workers", "0", "--status", "/status", "--ping", "/ping"],
                stdoutPath: directory.file("out.log"),
                stderrPath: directory.file("err.log")
            )
            try await onFailure({ await process.stop() }) {
                try await eventually("listening") { canConnect(port: port) }
                let pid = try await offPool { try rawGet(port: port, path: "/pid", timeout: .seconds(10)) }
                #expect(pid.text == String(process.pid))
                let status = try await offPool { try rawGet(port: port, path: "/status?json&full", timeout: .seconds(10)) }
                let json = try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any] ?? [:]
                #expect(json["process_manager"] as? String == "in-process")
                #expect((json["processes"] as? [[String: Any]])?.first?["pid"] as? Int == Int(process.pid))
                #expect(try await offPool { try rawGet(port: port, path: "/ping", timeout: .seconds(10)) }.text == "pong\n")
                process.signal(SIGTERM)
                #expect(try await process.wait(timeout: .seconds(60)) == 0)
            }
        }
    }

    /// Bad process-model options are refused with a clear message and a non-zero exit.
    @Test(arguments: [
        ["--workers", "-1"], ["--workers", "0", "--max-requests", "5"], ["--workers", "0", "--worker-memory-limit", "64"],
        ["--worker-timeout", "-2"], ["--status", "status"], ["--ping", "/x", "--status", "/x"], ["--max-requests-jitter", "-1"],
    ])
    func badOptions(arguments: [String]) async throws {
        try await withTestDirectory("sv-options") { directory in
            let process = try ChildProcess(
                try builtExecutable("FaultyApp"),
                arguments,
                stdoutPath: directory.file("out.log"),
                stderrPath: directory.file("err.log")
            )
            #expect(try await process.wait(timeout: .seconds(30)) != 0)
            #expect(process.standardError.contains("Error:"), "\(process.standardError)")
        }
    }
}

/// The `label: value` lines of a text status page.
func statusLines(_ text: String) -> [(label: String, value: String)] {
    text.split(separator: "\n").compactMap { line in
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
}

/// A datagram socket bound to an abstract unix name: what systemd listens on for notifications.
final class DatagramReceiver: Sendable {
    let fd: Int32

    init(abstractName: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(abstractName.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout.offset(of: \sockaddr_un.sun_path)! + bytes.count)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw TestFailure("bind failed: errno \(errno)") }
    }

    /// The next datagram, waiting up to `timeout`.
    func next(timeout: Duration = .seconds(30)) async throws -> String {
        let fd = self.fd
        let seconds = Int(timeout.components.seconds)
        return try await offPool {
            var pending = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            guard poll(&pending, 1, Int32(seconds * 1000)) == 1 else { throw TestFailure("no notification within \(seconds) s") }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count >= 0 else { throw TestFailure("recv failed: errno \(errno)") }
            return String(decoding: buffer[..<count], as: UTF8.self)
        }
    }

    func close() {
        Glibc.close(fd)
    }
}
