import Glibc

/// How a process ended, from its `waitpid` status.
enum ProcessExit: Sendable, Equatable, CustomStringConvertible {
    case exited(status: Int32)
    case signalled(signal: Int32, coreDumped: Bool)

    init(waitStatus: Int32) {
        let signal = waitStatus & 0x7F
        if signal == 0 {
            self = .exited(status: (waitStatus >> 8) & 0xFF)
        } else {
            self = .signalled(signal: signal, coreDumped: waitStatus & 0x80 != 0)
        }
    }

    /// `exited with status 3`, `died on SIGSEGV` (`(core dumped)` when it did).
    var description: String {
        switch self {
        case .exited(let status): return "exited with status \(status)"
        case .signalled(let signal, let core): return "died on \(SignalName.of(signal))\(core ? " (core dumped)" : "")"
        }
    }

    /// Whether it is how a worker told to stop ends: a clean exit, or the SIGTERM or SIGKILL sent.
    var isOrderlyStop: Bool {
        switch self {
        case .exited(let status): return status == 0
        case .signalled(let signal, _): return signal == SIGTERM || signal == SIGKILL
        }
    }
}
