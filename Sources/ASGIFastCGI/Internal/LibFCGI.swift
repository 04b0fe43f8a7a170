import CFastCGI
import Glibc

/// One-time set-up of libfcgi for the process.
enum LibFCGI {
    /// `FCGX_Init`'s result: it sets an unsynchronised static flag, so it runs once, before any
    /// worker thread starts.
    ///
    /// Before it, two signals libfcgi would take over while they have their default disposition are
    /// set to be ignored: `SIGPIPE` (a write to a connection nginx closed must fail with `EPIPE`,
    /// not kill the process) and `SIGUSR1` (libfcgi's handler sets its "shutdown pending" flag, after
    /// which every libfcgi read and write fails; shutdown goes through swift-service-lifecycle
    /// instead). A disposition the application set itself is left alone.
    private static let initResult: Int32 = {
        ignoreIfDefault(SIGPIPE)
        ignoreIfDefault(SIGUSR1)
        return FCGX_Init()
    }()

    /// Initialises libfcgi once.
    /// - Throws: ``FastCGIError`` `libraryInitFailed`.
    static func initialize() throws {
        guard initResult == 0 else {
            throw FastCGIError(.libraryInitFailed, "FCGX_Init failed with \(initResult).")
        }
    }

    private static func ignoreIfDefault(_ signalNumber: Int32) {
        var current = sigaction()
        guard sigaction(signalNumber, nil, &current) == 0 else { return }
        if current.sa_flags & SA_SIGINFO == 0, current.__sigaction_handler.sa_handler == nil {
            _ = signal(signalNumber, SIG_IGN)
        }
    }
}
