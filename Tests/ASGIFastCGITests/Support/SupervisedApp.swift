import ASGIConformance
import Foundation
import Glibc
import Synchronization
import TestSupport

/// The FaultyApp test application (Tests/FaultyApp) served by the Gateway runner as a user runs
/// it: a supervisor and its workers, stopped by the supervisor's pid (its workers follow it).
final class SupervisedApp: Sendable {
    let process: ChildProcess
    let directory: TestDirectory
    /// The HTTP port, when it serves HTTP.
    let port: Int?
    /// The FastCGI unix socket, when it serves FastCGI.
    let socket: String?

    /// Starts `executable` (FaultyApp by default) with `arguments` after the listening options
    /// (and `--status /status` unless `arguments` set it), and waits until every worker accepts ("worker(s) ready" in its log).
    /// - Parameters:
    ///   - kind: `wsgi` or `asgi` (FaultyApp's FAULTY_APP_KIND).
    ///   - environment: added to the child's minimal environment.
    static func start(
        in directory: TestDirectory,
        kind: String = "wsgi",
        http: Bool = true,
        fastCGI: Bool = false,
        arguments: [String],
        environment: [String: String] = [:],
        executable: String? = nil,
        logName: String = "app"
    ) async throws -> SupervisedApp {
        // A port found free may be taken by a test running in parallel before the app binds it.
        for attempt in 1... {
            do {
                return try await start0(
                    in: directory,
                    kind: kind,
                    http: http,
                    fastCGI: fastCGI,
                    arguments: arguments,
                    environment: environment,
                    executable: executable,
                    logName: logName
                )
            } catch let failure as TestFailure where attempt < 4 && failure.description.contains("already in use") {
                continue
            }
        }
        fatalError("unreachable")
    }

    private static func start0(
        in directory: TestDirectory,
        kind: String,
        http: Bool,
        fastCGI: Bool,
        arguments: [String],
        environment: [String: String],
        executable: String?,
        logName: String
    ) async throws -> SupervisedApp {
        let port = http ? try freeLoopbackPort() : nil
        let socket = fastCGI ? directory.file("\(logName).sock") : nil
        var listen: [String] = []
        if let port { listen += ["--http", "127.0.0.1:\(port)"] }
        if let socket { listen += ["--fastcgi", "unix:\(socket)"] }
        // The status page is how the tests see the workers.
        if !arguments.contains("--status") { listen += ["--status", "/status"] }
        var childEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "FAULTY_APP_KIND": kind]
        childEnvironment.merge(environment) { _, new in new }
        var started: ChildProcess? = nil
        for _ in 0..<100 where started == nil {
            do {
                started = try ChildProcess(
                    try executable ?? builtExecutable("FaultyApp"),
                    listen + arguments,
                    environment: childEnvironment,
                    stdoutPath: directory.file("\(logName).out"),
                    stderrPath: directory.file("\(logName).log")
                )
            } catch let failure as TestFailure where failure.description.hasSuffix("errno \(ETXTBSY)") {
                // An executable the test just wrote: another thread's spawn may still hold it open
                // for writing for a moment.
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        guard let process = started else { throw TestFailure("the executable stayed busy") }
        let app = SupervisedApp(process: process, directory: directory, port: port, socket: socket)
        do {
            try await app.waitForLog("worker(s) ready (generation 0", timeout: .seconds(60))
        } catch {
            await app.stop()
            throw error
        }
        return app
    }

    private init(process: ChildProcess, directory: TestDirectory, port: Int?, socket: String?) {
        self.process = process
        self.directory = directory
        self.port = port
        self.socket = socket
    }

    /// The log read so far: its complete lines, and where the next read starts.
    private let logState = Mutex<(offset: Int, lines: [String], partial: [UInt8])>((0, [], []))

    /// The runner's log (stderr: the supervisor's and every worker's).
    var log: String { process.standardError }

    /// Lines of the log that contain `text`. The log is read from where the last call stopped: a
    /// load test's access log grows large, and the tests ask often.
    func logLines(containing text: String) -> [String] {
        logState.withLock { state in
            let fd = open(process.stderrPath, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                defer { close(fd) }
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(state.offset)) }
                    guard count > 0 else { break }
                    state.offset += count
                    for byte in buffer[..<count] {
                        if byte == UInt8(ascii: "\n") {
                            state.lines.append(String(decoding: state.partial, as: UTF8.self))
                            state.partial.removeAll(keepingCapacity: true)
                        } else {
                            state.partial.append(byte)
                        }
                    }
                }
            }
            return state.lines.filter { $0.contains(text) }
        }
    }

    /// Waits until the log contains `text` (failing at once if the supervisor exits).
    func waitForLog(_ text: String, count: Int = 1, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while logLines(containing: text).count < count {
            if let status = process.poll() {
                throw TestFailure("the supervisor exited (\(status)) before '\(text)': \(log.prefix(3000))")
            }
            if ContinuousClock.now > deadline { throw TestFailure("timed out waiting for '\(text)' in the log") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// GET `path` over HTTP (a new connection each time).
    func get(_ path: String, timeout: Duration = .seconds(30)) async throws -> RawResponse {
        guard let port else { throw TestFailure("this app does not serve HTTP") }
        return try await offPool { try rawGet(port: port, path: path, timeout: timeout) }
    }

    /// The status page as JSON (`?json&full`), over HTTP.
    func status() async throws -> [String: Any] {
        let response = try await get("/status?json&full")
        guard response.status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        else {
            throw TestFailure("no status: \(response.status) \(response.text)")
        }
        return object
    }

    /// The pids of the worker processes the status page lists.
    func workerPIDs() async throws -> Set<Int32> {
        let processes = try await status()["processes"] as? [[String: Any]] ?? []
        return Set(processes.compactMap { ($0["pid"] as? Int).map { Int32($0) } })
    }

    /// Stops the supervisor by its pid (SIGTERM, then SIGKILL after 20 s) and waits for it.
    func stop() async {
        await process.stop(signal: SIGTERM, grace: .seconds(20))
    }
}

extension RawResponse {
    /// The body as UTF-8 text.
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// GET `path` from 127.0.0.1:`port` with `Connection: close`, reading to the end (blocking: call
/// it off the cooperative pool). Throws when the connection fails or ends before a response.
func rawGet(port: Int, path: String, timeout: Duration) throws -> RawResponse {
    let fd = try connectToLoopback(port: port, timeout: timeout)
    defer { close(fd) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
        throw TestFailure("sending to \(port) failed: errno \(errno)")
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            received.append(contentsOf: buffer[..<count])
            continue
        }
        if count == 0 { break }
        throw TestFailure("reading \(path) from \(port) failed: errno \(errno) after \(received.count) bytes")
    }
    return try parseRawResponse(received)
}

/// Whether process `pid` is gone: no such process, or a zombie nobody reaped yet (the workers of
/// a supervisor killed by the test are reparented to init, which may reap them late).
func processIsGone(_ pid: Int32) -> Bool {
    if kill(pid, 0) != 0 { return true }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return true }
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

/// The resident memory of `pid` and all its descendants, in bytes (from /proc).
func treeResidentBytes(_ pid: Int32) -> UInt64 {
    var total: UInt64 = 0
    var pending = [pid]
    let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
    while let current = pending.popLast() {
        if let statm = try? String(contentsOfFile: "/proc/\(current)/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = UInt64(fields[1]) { total += pages * pageSize }
        }
        // Children are listed per thread: the supervisor spawns from a thread of its own.
        for thread in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(current)/task")) ?? [] {
            if let children = try? String(contentsOfFile: "/proc/\(current)/task/\(thread)/children", encoding: .utf8) {
                pending += children.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
        }
    }
    return total
}

/// The load client (Support/load_client.py) running against `url` until ``finish()``.
final class LoadClient: Sendable {
    let process: ChildProcess
    private let outputPath: String

    /// Starts `connections` keep-alive connections against `url` (at most `rate` requests per
    /// second each when given).
    init(url: String, connections: Int, rate: Double? = nil, in directory: TestDirectory, name: String = "load") throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            throw TestFailure("python3 is not installed: run scripts/bootstrap.sh")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("load_client.py").path
        outputPath = directory.file("\(name).json")
        var arguments = [script, url, "--connections", String(connections)]
        if let rate { arguments += ["--rate", String(rate)] }
        process = try ChildProcess(
            "/usr/bin/python3",
            arguments,
            stdin: .pipe,
            stdoutPath: outputPath,
            stderrPath: directory.file("\(name).err")
        )
    }

    /// What the load saw.
    struct Summary: Sendable {
        var requests: Int
        var ok: Int
        /// Non-2xx statuses and how many times each came.
        var statuses: [String: Int]
        /// Connection failures by kind.
        var errors: [String: Int]
        /// Worker pids that answered, with how many responses each.
        var pids: [Int32: Int]
    }

    /// Stops the load and returns what it saw.
    func finish() async throws -> Summary {
        process.closeStdin()
        let exit = try await process.wait(timeout: .seconds(60))
        guard exit == 0,
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: outputPath))) as? [String: Any]
        else {
            throw TestFailure("the load client failed (\(exit)): \(process.standardError)")
        }
        var pids: [Int32: Int] = [:]
        for (key, value) in object["pids"] as? [String: Int] ?? [:] {
            if let pid = Int32(key) { pids[pid] = value }
        }
        return Summary(
            requests: object["requests"] as? Int ?? 0,
            ok: object["ok"] as? Int ?? 0,
            statuses: object["statuses"] as? [String: Int] ?? [:],
            errors: object["errors"] as? [String: Int] ?? [:],
            pids: pids
        )
    }

    /// Stops the load client by its pid, if it still runs (cleanup after a failure).
    func stop() async {
        await process.stop(signal: SIGTERM, grace: .seconds(5))
    }
}

/// An HTTP/1.1 connection to 127.0.0.1 kept open across requests, so that a test knows which
/// worker process serves it (blocking: call it off the cooperative pool).
final class KeepAliveConnection: Sendable {
    private let fd: Int32

    /// Connects to `port`; every read gives up after `timeout`.
    init(port: Int, timeout: Duration = .seconds(30)) throws {
        fd = try connectToLoopback(port: port, timeout: timeout)
    }

    deinit { Glibc.close(fd) }

    /// Sends `GET path` and reads its response, which must be framed (it stays open after it).
    func get(_ path: String) throws -> RawResponse {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw TestFailure("sending \(path) failed: errno \(errno)")
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw TestFailure("the connection ended (errno \(errno)) after \(received.count) bytes of \(path)") }
            received.append(contentsOf: buffer[..<count])
            if let response = try? parseRawResponse(received), response.complete, response.framed {
                return response
            }
        }
    }
}
