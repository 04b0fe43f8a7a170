package import Foundation
import Glibc
import Synchronization

/// A process a test started: stopped by its PID (never by name), its output in files.
///
/// The child starts with the default disposition for the signals a test sends (a test runner that
/// ignores SIGTERM must not pass that on), an empty signal mask and `/dev/null` or a pipe as stdin.
package final class ChildProcess: Sendable {
    package let pid: pid_t
    package let executable: String
    package let stdoutPath: String
    package let stderrPath: String
    /// The write end of the child's stdin, when the test feeds it.
    package let stdinWriter: Int32?
    private let exitStatus = Mutex<Int32?>(nil)
    private let stdinClosed = Atomic<Bool>(false)
    /// Whether the child was started by ``launch(_:_:)``: its output files are its own, and it is
    /// stopped when the last reference goes.
    private let ownsOutputFiles: Bool

    /// Starts `executable` with `arguments`; output goes to `stdoutPath` / `stderrPath`.
    /// - Parameters:
    ///   - environment: the child's whole environment (`nil`: a minimal one).
    ///   - stdin: `.null`, `.pipe` (the test writes through ``stdinWriter``), or a descriptor to
    ///     hand over as fd 0 (a listening socket for socket activation).
    package init(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        stdin: Stdin = .null,
        stdoutPath: String,
        stderrPath: String,
        ownsOutputFiles: Bool = false
    ) throws {
        self.executable = executable
        self.ownsOutputFiles = ownsOutputFiles
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var pipeEnds: [Int32] = [-1, -1]
        switch stdin {
        case .null:
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            stdinWriter = nil
        case .pipe:
            guard pipe(&pipeEnds) == 0 else { throw TestFailure("pipe() failed: errno \(errno)") }
            _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[0], 0)
            posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
            stdinWriter = pipeEnds[1]
        case .descriptor(let fd):
            posix_spawn_file_actions_adddup2(&actions, fd, 0)
            stdinWriter = nil
        }
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of the test process: SwiftNIO accepts connections without close-on-exec, so
        // a child started while another test's server holds a connection would keep that
        // connection open after the server closed it (its client then waits for an end that
        // never comes).
        Self.closeOnExec(from: 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGUSR1, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let environment = environment ?? ["PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]
        var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child = pid_t()
        let result = posix_spawn(&child, executable, &actions, &attributes, &argv, &envp)
        if pipeEnds[0] >= 0 { close(pipeEnds[0]) }
        guard result == 0 else {
            if pipeEnds[1] >= 0 { close(pipeEnds[1]) }
            throw TestFailure("Starting \(executable) failed: errno \(result)")
        }
        pid = child
    }

    package enum Stdin {
        case null
        case pipe
        case descriptor(Int32)
    }

    /// Writes to the child's stdin pipe.
    package func writeStdin(_ bytes: [UInt8]) throws {
        guard let fd = stdinWriter else { throw TestFailure("stdin is not a pipe") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw TestFailure("writing to \(executable)'s stdin failed: errno \(errno)") }
            offset += written
        }
    }

    /// Closes the child's stdin pipe (end of input).
    package func closeStdin() {
        guard let fd = stdinWriter, !stdinClosed.exchange(true, ordering: .relaxed) else { return }
        close(fd)
    }

    /// Marks every open descriptor from `lowest` on close-on-exec (what `dup2` gives the child as
    /// 0, 1 and 2 is not marked).
    private static func closeOnExec(from lowest: Int32) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for entry in entries {
            guard let fd = Int32(entry), fd >= lowest else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Sends `signal` to the child (by PID), if it still runs.
    package func signal(_ signal: Int32) {
        if exitStatus.withLock({ $0 }) == nil { kill(pid, signal) }
    }

    /// The exit status if the child has ended (reaping it), else `nil`.
    package func poll() -> Int32? {
        exitStatus.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            guard result == pid else { return nil }
            // WIFEXITED: low 7 bits zero; else report 128 + signal.
            let termination = raw & 0x7F
            status = termination == 0 ? (raw >> 8) & 0xFF : 128 + termination
            return status
        }
    }

    /// Waits (without blocking a thread) for the child to end, up to `timeout`.
    @discardableResult
    package func wait(timeout: Duration = .seconds(20)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = poll() { return status }
            if ContinuousClock.now > deadline {
                throw TestFailure("\(executable) (pid \(pid)) did not exit within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Stops the child: `signal` first, then SIGKILL if it is still there after `grace`.
    package func stop(signal first: Int32 = SIGTERM, grace: Duration = .seconds(5)) async {
        closeStdin()
        guard poll() == nil else { return }
        signal(first)
        if (try? await wait(timeout: grace)) == nil {
            signal(SIGKILL)
            _ = try? await wait(timeout: .seconds(5))
        }
    }

    package var standardOutput: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    package var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    deinit {
        guard ownsOutputFiles else { return }
        if poll() == nil { kill(pid, SIGTERM) }
        unlink(stdoutPath)
        unlink(stderrPath)
        rmdir((stdoutPath as NSString).deletingLastPathComponent)
    }
}
