import Glibc
import Synchronization

/// The write end of the supervisor's signal pipe, for the signal handler (an atomic load is safe
/// in a handler; nothing else is shared with it).
private let signalPipeWriteEnd = Atomic<Int32>(-1)

/// Catches the supervisor's signals with a handler that only writes the signal's number to a
/// pipe, which the supervisor's loop polls with everything else it waits for: the classic
/// self-pipe, which works whatever threads the process has and whatever they block.
enum SignalPipe {
    /// Installs the handler for `signals`; returns the pipe's read end (non-blocking).
    /// - Throws: ``GatewayError`` `startFailed`.
    static func install(_ signals: [Int32]) throws -> Int32 {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw GatewayError(.startFailed, "Creating the signal pipe failed: \(SystemCalls.describe(errno)).")
        }
        for fd in ends {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            SystemCalls.setCloseOnExec(fd)
        }
        signalPipeWriteEnd.store(ends[1], ordering: .releasing)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            let saved = errno
            var byte = UInt8(truncatingIfNeeded: signal)
            _ = write(signalPipeWriteEnd.load(ordering: .acquiring), &byte, 1)
            errno = saved
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        for signal in signals {
            guard sigaction(signal, &action, nil) == 0 else {
                throw GatewayError(.startFailed, "Installing the \(SignalName.of(signal)) handler failed: \(SystemCalls.describe(errno)).")
            }
        }
        return ends[0]
    }

    /// The signals caught since the last call, in order.
    static func take(from fd: Int32) -> [Int32] {
        var signals: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return signals }
            signals.append(contentsOf: buffer[..<count].map { Int32($0) })
        }
    }
}
