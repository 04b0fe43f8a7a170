import ASGI
import ASGIHTTPServer
import Dispatch
import Foundation
import InMemoryLogging
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// A running test server.
struct TestServer: Sendable {
    let port: Int
    let trigger: GracefulShutdownTestTrigger
    var url: String { "http://127.0.0.1:\(port)" }
    var ws: String { "ws://127.0.0.1:\(port)" }
}

/// A failure in the test harness itself.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The configuration tests start from: loopback, an ephemeral port, no access log noise.
func testConfiguration(_ adjust: (inout HTTPServerConfiguration) -> Void = { _ in }) -> HTTPServerConfiguration {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, gracefulShutdownTimeout: .seconds(20))
    configuration.metrics.enabled = false
    adjust(&configuration)
    configuration.host = "127.0.0.1"
    configuration.port = 0
    return configuration
}

/// A logger whose entries the test can read.
func memoryLogger(_ handler: InMemoryLogHandler = InMemoryLogHandler(), level: Logger.Level = .debug) -> Logger {
    var logger = Logger(label: "asgi.http.test", factory: { _ in handler })
    logger.logLevel = level
    return logger
}

/// Runs `app` on a server bound to 127.0.0.1:0 for the length of `body`, then shuts it down
/// gracefully and waits for `run()` to return (its error, if any, is thrown).
func withServer<R: Sendable>(
    _ app: any ASGIApplication,
    configuration: HTTPServerConfiguration = testConfiguration(),
    logger: Logger = memoryLogger(),
    _ body: @Sendable (TestServer) async throws -> R
) async throws -> R {
    try await testGracefulShutdown { trigger in
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (addresses, continuation) = AsyncStream<ASGIAddress>.makeStream()
            let server = ASGIHTTPServer(
                application: app, configuration: configuration, logger: logger,
                onServerRunning: { continuation.yield($0) }
            )
            group.addTask {
                defer { continuation.finish() }
                try await server.run()
            }
            var iterator = addresses.makeAsyncIterator()
            guard let address = await iterator.next(), let port = address.port else {
                try await group.waitForAll()
                throw HarnessError("the server stopped before it listened")
            }
            let result = try await body(TestServer(port: port, trigger: trigger))
            trigger.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        }
    }
}

/// A one-way gate: tasks wait until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// Things an application reports to its test, in order.
final class Reports<Element: Sendable>: Sendable {
    private struct State {
        var buffer: [Element] = []
        var waiter: CheckedContinuation<Element, Never>?
    }

    private let state = Mutex(State())

    func report(_ element: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.buffer.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// The next report (the test is its only reader).
    func next() async throws -> Element {
        await withCheckedContinuation { (continuation: CheckedContinuation<Element, Never>) in
            let ready = state.withLock { state -> Element? in
                if !state.buffer.isEmpty { return state.buffer.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// A process a test started; stopped by its PID if it is still running when the test ends.
final class ChildProcess: @unchecked Sendable {
    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    private final class Output: Sendable {
        let data = Mutex(Data())
    }

    /// Waiters for the first line of standard output.
    private final class FirstLine: Sendable {
        private let state = Mutex<(line: String??, waiters: [CheckedContinuation<String?, Never>])>((nil, []))

        func offer(_ data: Data, atEnd: Bool) {
            let (line, waiters) = state.withLock { state -> (String?, [CheckedContinuation<String?, Never>]) in
                guard state.line == nil else { return (nil, []) }
                if let newline = data.firstIndex(of: UInt8(ascii: "\n")) {
                    state.line = .some(String(decoding: data[..<newline], as: UTF8.self))
                } else if atEnd {
                    state.line = .some(nil)
                } else {
                    return (nil, [])
                }
                defer { state.waiters = [] }
                return (state.line!, state.waiters)
            }
            for waiter in waiters { waiter.resume(returning: line) }
        }

        func wait() async -> String? {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                let line = state.withLock { state -> String?? in
                    if let line = state.line { return .some(line) }
                    state.waiters.append(continuation)
                    return .none
                }
                if let line { continuation.resume(returning: line) }
            }
        }
    }

    private let process = Process()
    private let stdoutData = Output()
    private let firstLineOfOutput = FirstLine()
    private let stderrData = Output()
    private let finished = DispatchGroup()

    /// Starts a process. Spawning blocks the calling thread for a moment (Foundation waits for
    /// the child to exec), so it happens on a thread of its own, never on the cooperative pool:
    /// a few tests spawning at once would otherwise stall every task of the test run.
    static func launch(_ executable: String, _ arguments: [String]) async throws -> ChildProcess {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ChildProcess, any Error>) in
            Thread {
                continuation.resume(with: Swift.Result { try ChildProcess(executable, arguments) })
            }.start()
        }
    }

    private init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        finished.enter()
        finished.enter()
        finished.enter()
        process.terminationHandler = { [finished] _ in finished.leave() }
        try process.run()
        // Pipes are drained on threads of their own: a blocking read on a Dispatch global queue
        // would take one of the few threads Linux's Dispatch shares with Swift's cooperative pool.
        Thread { [stdoutData, firstLineOfOutput, finished] in
            let handle = stdout.fileHandleForReading
            var data = Data()
            while true {
                let chunk = handle.availableData
                data.append(chunk)
                firstLineOfOutput.offer(data, atEnd: chunk.isEmpty)
                if chunk.isEmpty { break }
            }
            stdoutData.data.withLock { [data] in $0 = data }
            finished.leave()
        }.start()
        Thread { [stderrData, finished] in
            let data = stderr.fileHandleForReading.readDataToEndOfFile()
            stderrData.data.withLock { $0 = data }
            finished.leave()
        }.start()
    }

    var pid: Int32 { process.processIdentifier }

    /// The first line the process writes to standard output (`nil` if it exits without one).
    func firstLine() async -> String? {
        await firstLineOfOutput.wait()
    }

    /// Sends SIGTERM to the process (by its PID) if it is still running.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    }

    /// Waits for the process to exit and its output to be read.
    func result() async -> Result {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            finished.notify(queue: .global()) { continuation.resume() }
        }
        let stdout = stdoutData.data.withLock { $0 }
        let stderr = stderrData.data.withLock { $0 }
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
        )
    }

    deinit { stop() }
}

/// Runs a command to its end.
func run(_ executable: String, _ arguments: [String]) async throws -> ChildProcess.Result {
    let child = try await ChildProcess.launch(executable, arguments)
    defer { child.stop() }
    return await child.result()
}

/// Runs curl (`--silent --show-error`, a 30 s cap) to its end.
func curl(_ arguments: [String]) async throws -> ChildProcess.Result {
    try await run("/usr/bin/curl", ["--silent", "--show-error", "--max-time", "30"] + arguments)
}

/// Runs a Python script (`python3 -c`) with arguments to its end.
func python(_ script: String, _ arguments: [String] = []) async throws -> ChildProcess.Result {
    try await run(pythonPath, ["-c", script] + arguments)
}

/// python3 from PATH (bootstrap.sh installs websockets and h11 for it).
let pythonPath: String = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/python3"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return "/usr/bin/python3"
}()

/// Decodes a Python client's JSON output.
func json(_ result: ChildProcess.Result) throws -> [String: Any] {
    guard result.status == 0,
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    else {
        throw HarnessError("client failed (\(result.status)): \(result.stdout) \(result.stderr)")
    }
    return object
}

/// A plain response in one event pair.
func respond(_ send: Send, status: Int = 200, _ body: String, headers: ASGIHeaders = [("content-type", "text/plain")]) async throws {
    try await send(.httpResponseStart(status: status, headers: headers))
    try await send(.httpResponseBody(body: Array(body.utf8)))
}

/// Reads a request body to its end through `receive`.
func readBody(_ receive: Receive) async throws -> [UInt8] {
    var body: [UInt8] = []
    while true {
        switch try await receive() {
        case .httpRequest(let chunk, let more):
            body += chunk
            if !more { return body }
        default:
            return body
        }
    }
}

/// The `StreamingServer` helper (built beside the test bundle) running in a process of its own.
struct StreamingServerProcess {
    let process: ChildProcess
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    static func start(eventLoops: Bool) async throws -> StreamingServerProcess {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let binary = directory.appendingPathComponent("StreamingServer").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw HarnessError("\(binary) is missing: build with `swift build --build-tests`")
        }
        let process = try await ChildProcess.launch(binary, eventLoops ? ["--event-loops"] : [])
        guard let line = await process.firstLine(), line.hasPrefix("listening "), let port = Int(line.dropFirst(10)) else {
            process.stop()
            throw HarnessError("StreamingServer did not start: \(await process.result().stderr)")
        }
        return StreamingServerProcess(process: process, port: port)
    }

    /// Stops the server (SIGTERM: a graceful shutdown) and waits for it to exit.
    func stop() async {
        process.stop()
        _ = await process.result()
    }

    /// A field of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
    func memory(_ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
            return kib * 1024
        }
        return 0
    }
}
