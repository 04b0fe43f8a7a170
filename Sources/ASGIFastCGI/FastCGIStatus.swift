/// A snapshot of a ``FastCGIServer``'s counters, as its status endpoint shows them (PHP-FPM's
/// status page, with the listen queue measured on unix sockets too).
///
/// ```swift
/// let status = server.status
/// if status.idleWorkers == 0 { logger.warning("all \(status.totalWorkers) workers busy") }
/// print(status.text)
/// ```
public struct FastCGIStatus: Sendable, Hashable {
    /// Where the server listens (`unix:PATH`, `HOST:PORT` or `stdin`).
    public var address: String
    /// Seconds since the server started listening.
    public var uptimeSeconds: Int
    /// Requests accepted (FastCGI `BEGIN_REQUEST`s read completely), status and ping included.
    public var acceptedRequests: Int
    /// Connections accepted from the web server; with `fastcgi_keep_conn` one carries many requests.
    public var acceptedConnections: Int
    /// Connections waiting in the listen backlog now (`nil` where the platform cannot tell).
    public var listenQueue: Int?
    /// The largest ``listenQueue`` seen by a status request or the watchdog.
    public var maxListenQueue: Int
    /// The listen backlog's size.
    public var listenQueueLength: Int
    /// Workers serving a request now.
    public var activeWorkers: Int
    /// Workers not serving a request (waiting for a new connection or a kept connection's request).
    public var idleWorkers: Int
    /// Idle kept (`FCGI_KEEP_CONN`) connections, waiting for their next request (they hold no worker).
    public var keptConnections: Int
    /// All workers.
    public var totalWorkers: Int
    /// The most workers active at once.
    public var maxActiveWorkers: Int
    /// How many times a request started while every worker was busy (PHP-FPM's "max children
    /// reached").
    public var maxActiveReached: Int
    /// Requests that ran past the slow-request threshold.
    public var slowRequests: Int
    /// Requests that ran past the request timeout.
    public var timedOutRequests: Int
    /// Requests whose client went away before the response was complete.
    public var abortedRequests: Int
    /// Requests refused for their size (413, 431) or a malformed head (400).
    public var rejectedRequests: Int

    /// Creates a snapshot.
    public init(
        address: String,
        uptimeSeconds: Int,
        acceptedRequests: Int,
        acceptedConnections: Int,
        listenQueue: Int?,
        maxListenQueue: Int,
        listenQueueLength: Int,
        activeWorkers: Int,
        idleWorkers: Int,
        keptConnections: Int,
        totalWorkers: Int,
        maxActiveWorkers: Int,
        maxActiveReached: Int,
        slowRequests: Int,
        timedOutRequests: Int,
        abortedRequests: Int,
        rejectedRequests: Int
    ) {
        self.address = address
        self.uptimeSeconds = uptimeSeconds
        self.acceptedRequests = acceptedRequests
        self.acceptedConnections = acceptedConnections
        self.listenQueue = listenQueue
        self.maxListenQueue = maxListenQueue
        self.listenQueueLength = listenQueueLength
        self.activeWorkers = activeWorkers
        self.idleWorkers = idleWorkers
        self.keptConnections = keptConnections
        self.totalWorkers = totalWorkers
        self.maxActiveWorkers = maxActiveWorkers
        self.maxActiveReached = maxActiveReached
        self.slowRequests = slowRequests
        self.timedOutRequests = timedOutRequests
        self.abortedRequests = abortedRequests
        self.rejectedRequests = rejectedRequests
    }

    /// The fields in order, as (text label, JSON key, value).
    private var fields: [(String, String, String)] {
        [
            ("address", "address", jsonString(address)),
            ("uptime seconds", "uptime_seconds", String(uptimeSeconds)),
            ("accepted requests", "accepted_requests", String(acceptedRequests)),
            ("accepted connections", "accepted_connections", String(acceptedConnections)),
            ("listen queue", "listen_queue", listenQueue.map(String.init) ?? "null"),
            ("max listen queue", "max_listen_queue", String(maxListenQueue)),
            ("listen queue len", "listen_queue_len", String(listenQueueLength)),
            ("idle workers", "idle_workers", String(idleWorkers)),
            ("active workers", "active_workers", String(activeWorkers)),
            ("kept connections", "kept_connections", String(keptConnections)),
            ("total workers", "total_workers", String(totalWorkers)),
            ("max active workers", "max_active_workers", String(maxActiveWorkers)),
            ("max active reached", "max_active_reached", String(maxActiveReached)),
            ("slow requests", "slow_requests", String(slowRequests)),
            ("timed out requests", "timed_out_requests", String(timedOutRequests)),
            ("aborted requests", "aborted_requests", String(abortedRequests)),
            ("rejected requests", "rejected_requests", String(rejectedRequests)),
        ]
    }

    /// The status as PHP-FPM prints it: one `label: value` line per field.
    public var text: String {
        fields.map { label, _, value in
            let shown = label == "address" ? address : (value == "null" ? "-" : value)
            let padding = String(repeating: " ", count: max(1, 22 - label.count))
            return "\(label):\(padding)\(shown)\n"
        }.joined()
    }

    /// The status as a JSON object (keys in snake case, strings escaped).
    public var json: String {
        "{" + fields.map { _, key, value in "\"\(key)\":\(value)" }.joined(separator: ",") + "}\n"
    }
}

/// `value` as a JSON string literal, escaped.
func jsonString(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
