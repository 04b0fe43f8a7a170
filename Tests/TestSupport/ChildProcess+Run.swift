import Foundation
import Glibc

extension ChildProcess {
    /// How a child ended and what it wrote.
    package struct Result: Sendable {
        /// The exit status (128 + the signal's number when a signal ended it).
        package var status: Int32
        package var stdout: String
        package var stderr: String
    }

    /// Starts `executable` with the test process's environment, its output in files of its own
    /// (removed, and the child sent SIGTERM, when the last reference goes).
    package static func launch(_ executable: String, _ arguments: [String]) async throws -> ChildProcess {
        let directory = try makeTemporaryDirectory(prefix: "child")
        return try ChildProcess(
            executable,
            arguments,
            environment: ProcessInfo.processInfo.environment,
            stdoutPath: directory + "/stdout",
            stderrPath: directory + "/stderr",
            ownsOutputFiles: true
        )
    }

    /// Sends SIGTERM (by PID) if the child still runs, without waiting: for `defer`, where a test
    /// cannot await.
    package func terminate() {
        signal(SIGTERM)
    }

    /// The first line the child writes to standard output, or `nil` if it exits (or `timeout`
    /// passes) without one.
    package func firstLine(timeout: Duration = .seconds(60)) async -> String? {
        var line: String?
        try? await eventually("a first line from \(executable)", timeout: timeout) {
            let output = standardOutput
            if let newline = output.firstIndex(of: "\n") {
                line = String(output[..<newline])
                return true
            }
            return poll() != nil
        }
        return line
    }

    /// Waits for the child to end (SIGKILL past `timeout`) and returns its status and output.
    package func result(timeout: Duration = .seconds(120)) async -> Result {
        let status: Int32
        if let ended = try? await wait(timeout: timeout) {
            status = ended
        } else {
            signal(SIGKILL)
            status = (try? await wait(timeout: .seconds(10))) ?? -1
        }
        return Result(status: status, stdout: standardOutput, stderr: standardError)
    }
}

/// A new, empty directory under the system's temporary directory.
package func makeTemporaryDirectory(prefix: String = "asgi-test") throws -> String {
    var template = Array("\(NSTemporaryDirectory())/\(prefix)-XXXXXX".utf8CString)
    guard let path = mkdtemp(&template) else {
        throw TestFailure("mkdtemp failed: errno \(errno)")
    }
    return String(cString: path)
}
