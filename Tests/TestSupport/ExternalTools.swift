import Foundation

/// Runs a command to its end (bounded by ``ChildProcess/result(timeout:)``).
package func run(_ executable: String, _ arguments: [String]) async throws -> ChildProcess.Result {
    let child = try await ChildProcess.launch(executable, arguments)
    return await child.result()
}

/// Runs curl (`--silent --show-error`, a 30 s cap) to its end.
package func curl(_ arguments: [String]) async throws -> ChildProcess.Result {
    try await run(try requireTool("curl", install: "apt-get install -y curl"), ["--silent", "--show-error", "--max-time", "30"] + arguments)
}

/// Runs a Python script (`python3 -c`) with arguments to its end.
package func python(_ script: String, _ arguments: [String] = []) async throws -> ChildProcess.Result {
    try await run(pythonPath, ["-c", script] + arguments)
}

/// python3 from PATH (scripts/bootstrap.sh installs the clients the tests use for it).
package let pythonPath: String = findExecutable("python3") ?? "/usr/bin/python3"

/// The path of `name` on PATH (then /usr/sbin and /sbin), or `nil`.
package func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
    for directory in directories {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// The path of `name`, or a failure at once that says how to install it: a test that needs a
/// tool the machine lacks fails with the hint, never hangs.
package func requireTool(_ name: String, install: String) throws -> String {
    guard let path = findExecutable(name) else {
        throw TestFailure("\(name) is not installed: run `\(install)` (or `make test`, which installs it)")
    }
    return path
}
