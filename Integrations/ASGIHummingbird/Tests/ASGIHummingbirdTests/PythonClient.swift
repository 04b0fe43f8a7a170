import Foundation
import Synchronization
import Testing

/// A failure of the test harness itself (a client that could not run, or said something else).
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What a finished client process said.
struct ProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    /// The client's standard output as a JSON object.
    func json() throws -> [String: Any] {
        guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
            throw HarnessError("client failed (\(status)): \(stdout) \(stderr)")
        }
        return object
    }
}

/// python3 from PATH (scripts/bootstrap.sh installs the `websockets` module for it).
let pythonPath: String = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/python3"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return "/usr/bin/python3"
}()

/// Fails at once, with the way to install it, when python3 or its `module` is missing.
func requirePython(module: String) async throws {
    let check = try await runProcess(pythonPath, ["-c", "import \(module)"], deadline: .seconds(30))
    guard check.status == 0 else {
        throw HarnessError(
            "python3 with the '\(module)' module is needed: run scripts/bootstrap.sh (or `python3 -m pip install \(module)`). \(check.stderr)"
        )
    }
}

/// Runs a Python client (`python3 -c script args…`) to its end.
func python(_ script: String, _ arguments: [String] = []) async throws -> ProcessResult {
    try await runProcess(pythonPath, ["-c", script] + arguments, deadline: .seconds(60))
}

/// Runs a process to its end; past `deadline` it is stopped by its PID (SIGKILL) and the result
/// says so. Spawning and reading happen on threads of their own, never on the cooperative pool.
func runProcess(_ executable: String, _ arguments: [String], deadline: Duration) async throws -> ProcessResult {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ProcessResult, any Error>) in
        Thread {
            continuation.resume(with: Result { try runBlocking(executable, arguments, deadline: deadline) })
        }.start()
    }
}

private func runBlocking(_ executable: String, _ arguments: [String], deadline: Duration) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let pid = process.processIdentifier
    let finished = Atomic(false)
    let watchdog = Thread {
        let end = ContinuousClock.now + deadline
        while ContinuousClock.now < end {
            if finished.load(ordering: .acquiring) { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        if !finished.load(ordering: .acquiring) { kill(pid, SIGKILL) }
    }
    watchdog.start()
    let errors = Mutex(Data())
    let errorReader = Thread {
        let data = stderr.fileHandleForReading.readDataToEndOfFile()
        errors.withLock { $0 = data }
    }
    errorReader.start()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    finished.store(true, ordering: .releasing)
    // The reader ends once the process closed its side of the pipe.
    while errorReader.isExecuting { Thread.sleep(forTimeInterval: 0.01) }
    return ProcessResult(
        status: process.terminationStatus,
        stdout: String(decoding: output, as: UTF8.self),
        stderr: String(decoding: errors.withLock { $0 }, as: UTF8.self)
    )
}

/// Reports an application makes as it goes; the test waits for the ones it expects, in any
/// order (connections end concurrently).
final class Reports: Sendable {
    private struct State {
        var lines: [String] = []
        var waiters: [Int: (line: String, continuation: CheckedContinuation<Bool, Never>)] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    func report(_ line: String) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let (id, waiter) = state.waiters.first(where: { $0.value.line == line }) {
                state.waiters[id] = nil
                return waiter.continuation
            }
            state.lines.append(line)
            return nil
        }
        waiter?.resume(returning: true)
    }

    /// Whether `line` is reported (now or within 60 seconds); it is consumed.
    func saw(_ line: String) async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timeout = Task {
            try await Task.sleep(for: .seconds(60))
            self.state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
        }
        defer { timeout.cancel() }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let ready = state.withLock { state -> Bool in
                if let index = state.lines.firstIndex(of: line) {
                    state.lines.remove(at: index)
                    return true
                }
                state.waiters[id] = (line, continuation)
                return false
            }
            if ready { continuation.resume(returning: true) }
        }
    }

    /// Everything reported and not consumed yet.
    var unconsumed: [String] { state.withLock { $0.lines } }
}
