import Logging

/// Where the runner and its servers log, without `LoggingSystem.bootstrap`.
///
/// The runner never bootstraps the process-wide logging system: a host program that has done so
/// already would trap (swift-log allows one bootstrap per process), and one that has not keeps
/// the choice for its own loggers. The runner's loggers get their handler here instead: standard
/// error at `--log-level`, or the handler of the logger the host passed to
/// ``Gateway/run(_:logger:)-(ASGIApplication,_)``.
struct GatewayLogging: Sendable {
    private let makeHandler: @Sendable (String) -> any LogHandler
    private let tagsLabel: Bool
    private var metadata: Logger.Metadata = [:]
    /// The level of every logger made here (`--log-level`).
    let level: Logger.Level

    /// Loggers that write to standard error.
    init(level: Logger.Level) {
        self.makeHandler = { label in StreamLogHandler.standardError(label: label) }
        self.tagsLabel = false
        self.level = level
    }

    /// Loggers that use `host`'s handler (and its metadata), each tagged with its label.
    init(host: Logger, level: Logger.Level) {
        self.makeHandler = { _ in host.handler }
        self.tagsLabel = true
        self.level = level
    }

    /// A logger for one part of the runner (`asgi.gateway`, `asgi.http`, `asgi.fastcgi`, ...).
    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label, factory: makeHandler)
        logger.logLevel = level
        if tagsLabel { logger[metadataKey: "logger"] = "\(label)" }
        for (key, value) in metadata { logger[metadataKey: key] = value }
        return logger
    }

    /// The same loggers, each carrying `metadata` too (a worker's number).
    func adding(metadata: Logger.Metadata) -> GatewayLogging {
        var copy = self
        copy.metadata.merge(metadata) { _, new in new }
        return copy
    }
}
