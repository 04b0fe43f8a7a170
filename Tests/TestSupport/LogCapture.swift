package import InMemoryLogging
package import Logging

/// A logger whose entries the test reads from `handler` (swift-log's `InMemoryLogHandler`).
package func memoryLogger(
    _ handler: InMemoryLogHandler = InMemoryLogHandler(),
    label: String = "asgi.test",
    level: Logger.Level = .debug
) -> Logger {
    var logger = Logger(label: label, factory: { _ in handler })
    logger.logLevel = level
    return logger
}

extension InMemoryLogHandler {
    /// The messages logged so far, in order.
    package var messages: [String] { entries.map { "\($0.message)" } }

    /// Waits (bounded) until a message satisfying `matches` has been logged, and returns its entry.
    @discardableResult
    package func waitForEntry(
        _ what: String,
        timeout: Duration = .seconds(30),
        where matches: (Entry) -> Bool
    ) async throws -> Entry {
        var found: Entry?
        try await eventually("a log entry: \(what)", timeout: timeout) {
            found = entries.first(where: matches)
            return found != nil
        }
        return found!
    }
}
