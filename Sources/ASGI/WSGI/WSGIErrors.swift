public import Logging
import Synchronization

/// The error stream of a request (`wsgi.errors`): what the application writes goes to the log,
/// one entry per line, tagged with the request.
public final class WSGIErrors: Sendable {
    private let logger: Logger
    private let partial = Mutex<String>("")

    /// Writes to `logger` at error level.
    public init(logger: Logger) {
        self.logger = logger
    }

    /// Writes text; complete lines are logged at once.
    public func write(_ text: String) {
        let lines = partial.withLock { partial -> [Substring] in
            partial += text
            var parts = partial.split(separator: "\n", omittingEmptySubsequences: false)
            partial = String(parts.removeLast())
            return parts
        }
        for line in lines where !line.isEmpty {
            logger.error("\(line)")
        }
    }

    /// Logs what is left of an unfinished line.
    public func flush() {
        let rest = partial.withLock { partial -> String in
            defer { partial = "" }
            return partial
        }
        if !rest.isEmpty { logger.error("\(rest)") }
    }
}
