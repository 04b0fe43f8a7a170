import Foundation
import Glibc
import TestSupport

/// The `GatewayProbe` test application (Tests/GatewayProbe) run through the `Gateway` runner's
/// command line, as a process of its own: its `/hold?name=N` requests wait for the test to
/// release them, which is how these tests hold requests in flight without sleeping.
struct GatewayProbeProcess: Sendable {
    let process: ChildProcess
    let directory: TestDirectory
    let name: String

    /// Starts the probe with `arguments`, waits until every address in `ready` (`http:PORT` or
    /// `unix:PATH`) accepts connections. `descriptorLimit`: its `RLIMIT_NOFILE`.
    static func start(
        _ arguments: [String],
        in directory: TestDirectory,
        name: String = "probe",
        logging: String? = nil,
        descriptorLimit: Int? = nil,
        ready: [String]
    ) async throws -> GatewayProbeProcess {
        var environment = ["PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "GATEWAY_PROBE_DIR": directory.path]
        if let logging { environment["GATEWAY_PROBE_LOGGING"] = logging }
        if let descriptorLimit { environment["GATEWAY_PROBE_NOFILE"] = String(descriptorLimit) }
        let process = try ChildProcess(
            try builtExecutable("GatewayProbe"),
            arguments,
            environment: environment,
            stdoutPath: directory.file("\(name).out"),
            stderrPath: directory.file("\(name).err")
        )
        let probe = GatewayProbeProcess(process: process, directory: directory, name: name)
        do {
            try await eventually("\(name) listening on \(ready)", timeout: .seconds(30)) {
                if let status = process.poll() { throw TestFailure("\(name) exited with \(status): \(process.standardError.suffix(1500))") }
                return ready.allSatisfy { address in
                    if address.hasPrefix("unix:") { return canConnect(unixPath: String(address.dropFirst(5))) }
                    return Int(address.dropFirst(5)).map(canConnect(port:)) ?? false
                }
            }
        } catch {
            await process.stop()
            throw error
        }
        return probe
    }

    /// What the probe logged to standard error so far.
    var log: String { process.standardError }

    /// Waits until the held request `name` has reached the application.
    func waitUntilArrived(_ name: String) async throws {
        try await eventually("request \(name) arrived", timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: directory.file("\(name).arrived"))
        }
    }

    /// Whether the held request `name` has reached the application.
    func hasArrived(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: directory.file("\(name).arrived"))
    }

    /// Lets the held request `name` finish.
    func release(_ name: String) {
        _ = FileManager.default.createFile(atPath: directory.file("\(name).release"), contents: nil)
    }

    /// Waits until the log contains `text`.
    func waitForLog(_ text: String) async throws {
        try await eventually("\(name) logs '\(text)'", timeout: .seconds(30)) {
            if let status = process.poll() { throw TestFailure("\(name) exited with \(status): \(log.suffix(1500))") }
            return log.contains(text)
        }
    }

    /// SIGTERM, and the exit status (0 after a graceful shutdown).
    func terminate() async throws -> Int32 {
        process.signal(SIGTERM)
        return try await process.wait(timeout: .seconds(60))
    }

    func stop() async {
        await process.stop()
    }
}

/// The `KEY=VALUE` lines the probe's `/environ` answers, as a dictionary.
func environLines(_ result: HTTPResult) -> [String: String] {
    var values: [String: String] = [:]
    for line in result.text.split(separator: "\n") {
        guard let equals = line.firstIndex(of: "=") else { continue }
        values[String(line[..<equals])] = String(line[line.index(after: equals)...])
    }
    return values
}
