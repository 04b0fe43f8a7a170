import CFastCGI
import Glibc

/// One-time set-up of libfcgi for the process.
enum LibFCGI {
    /// `FCGX_Init`'s result: it sets an unsynchronised static flag, so it runs once, before any
    /// worker thread starts.
    ///
    /// `FCGX_Init` installs handlers for `SIGPIPE`, `SIGUSR1` and `SIGTERM` where they still have
    /// their default disposition; the `SIGUSR1` and `SIGTERM` ones set libfcgi's "shutdown
    /// pending" flag, after which every libfcgi read and write fails (and `SIGTERM` no longer ends
    /// the process). Shutdown goes through swift-service-lifecycle instead, so the dispositions
    /// from before are put back; `SIGPIPE`, if it was at its default, is ignored (a write to a
    /// connection nginx closed must fail with `EPIPE`, not kill the process).
    private static let initResult: Int32 = {
        let saved = [SIGPIPE, SIGUSR1, SIGTERM].map { signalNumber -> (Int32, sigaction?) in
            var current = sigaction()
            return (signalNumber, sigaction(signalNumber, nil, &current) == 0 ? current : nil)
        }
        let result = FCGX_Init()
        for (signalNumber, previous) in saved {
            guard var previous else { continue }
            if signalNumber == SIGPIPE, previous.sa_flags & SA_SIGINFO == 0, previous.__sigaction_handler.sa_handler == nil {
                _ = signal(SIGPIPE, SIG_IGN)
            } else {
                _ = sigaction(signalNumber, &previous, nil)
            }
        }
        return result
    }()

    /// Initialises libfcgi once.
    /// - Throws: ``FastCGIError`` `libraryInitFailed`.
    static func initialize() throws {
        guard initResult == 0 else {
            throw FastCGIError(.libraryInitFailed, "FCGX_Init failed with \(initResult).")
        }
    }
}
