public import Logging
import Synchronization

/// Logs each HTTP request that is still running after a threshold, once, while it runs: PHP-FPM's
/// slowlog (`request_slowlog_timeout`) for any ASGI server.
///
/// The line says what is slow while it is slow, which an access log (written at the end, if there
/// is an end) cannot: `Slow request: GET /report?year=2024 has run for 5.0 s (client 192.0.2.7:51234).`
/// The FastCGI frontend does the same on its own (`FastCGIConfiguration.slowRequestThreshold`).
///
/// Requests are only registered on the way in and out (a lock and a table entry each); one
/// watcher, ``watch()``, looks at the table every tenth of the threshold (at least every 10 ms,
/// at most every second), so a line comes at most 10% late. Run it beside the server, for as long
/// as the server runs (the `Gateway` runner does); without it nothing is logged. WebSocket and
/// lifespan scopes pass through unwatched: a long WebSocket session is not slow.
///
/// ```swift
/// let slowLog = SlowRequestLog(app, threshold: .seconds(5), logger: logger)
/// async let watching: Void = slowLog.watch()
/// // serve slowLog instead of app
/// ```
public final class SlowRequestLog: ASGIApplication {
    /// The wrapped application.
    public let application: any ASGIApplication
    /// How long a request runs before it is logged.
    public let threshold: Duration
    /// Where the lines go (at `warning`).
    public let logger: Logger

    /// A request in flight: what the line needs, kept as the scope has it (the line is rare).
    private struct Entry {
        var method: String
        var path: String
        var query: [UInt8]
        var client: ASGIAddress?
        var started: ContinuousClock.Instant
        var logged = false

        var target: String {
            query.isEmpty ? path : path + "?" + String(decoding: query, as: UTF8.self)
        }
    }

    private struct Table {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
    }

    private let table = Mutex(Table())
    private let slowCount = Atomic<Int>(0)

    /// Wraps `application`, logging requests that run longer than `threshold`.
    public init(_ application: any ASGIApplication, threshold: Duration, logger: Logger = Logger(label: "asgi.slow")) {
        self.application = application
        self.threshold = threshold
        self.logger = logger
    }

    /// Requests logged as slow so far.
    public var slowRequests: Int { slowCount.load(ordering: .relaxed) }

    /// How often ``watch()`` looks: a tenth of the threshold, between 10 ms and 1 s.
    public var interval: Duration {
        min(max(threshold / 10, .milliseconds(10)), .seconds(1))
    }

    /// Serves one connection, registered while it runs if it is an HTTP request.
    public func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        guard case .http(let http) = scope else {
            return try await application(scope: scope, receive: receive, send: send)
        }
        let entry = Entry(method: http.method, path: http.path, query: http.queryString, client: http.client, started: .now)
        let id = table.withLock { table in
            let id = table.nextID
            table.nextID &+= 1
            table.entries[id] = entry
            return id
        }
        defer { _ = table.withLock { $0.entries.removeValue(forKey: id) } }
        try await application(scope: scope, receive: receive, send: send)
    }

    /// Looks for slow requests until the calling task is cancelled.
    public func watch() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            logSlowRequests(now: .now)
        }
    }

    /// Logs (once each) the requests that started at least ``threshold`` before `now`.
    func logSlowRequests(now: ContinuousClock.Instant) {
        let due = table.withLock { table -> [Entry] in
            var due: [Entry] = []
            for (id, entry) in table.entries where !entry.logged && now - entry.started >= threshold {
                table.entries[id]?.logged = true
                due.append(entry)
            }
            return due
        }
        for entry in due {
            slowCount.add(1, ordering: .relaxed)
            let target = entry.target
            let client = entry.client.map { " (client \($0.host)\($0.port.map { ":\($0)" } ?? ""))" } ?? ""
            logger.warning(
                "Slow request: \(entry.method) \(target) has run for \(Self.seconds(now - entry.started)) s\(client).",
                metadata: ["asgi.request.method": "\(entry.method)", "asgi.request.target": "\(target)"]
            )
        }
    }

    /// `duration` in seconds with one decimal (two below one second).
    static func seconds(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if millis < 1000 {
            let hundredths = millis / 10
            return "0.\(hundredths < 10 ? "0" : "")\(hundredths)"
        }
        return "\(millis / 1000).\(millis % 1000 / 100)"
    }
}
