package import Logging
import Synchronization

/// An identifier for one request, unique in the process and unlikely to repeat across processes:
/// a random prefix drawn once per process and a counter.
package struct RequestID: Sendable, Hashable, CustomStringConvertible {
    private static let prefix = UInt32.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(0)

    private let number: UInt64

    /// The next identifier.
    package init() {
        number = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// 8 hexadecimal digits of the process prefix, a dash, the request's number in hexadecimal.
    package var description: String {
        let prefix = String(Self.prefix, radix: 16)
        return String(repeating: "0", count: 8 - prefix.count) + prefix + "-" + String(number, radix: 16)
    }
}

/// One request as the access log records it: the same line and the same metadata from every
/// server.
///
/// The message reads as a common log line; the metadata carries each field for machines:
/// `asgi.request.id`, `.method`, `.path` (the target as sent), `.status` (`-` when no response went
/// out), `.duration` (seconds), `.bytes` (response body bytes), `.client` and, for a request that
/// did not end normally, `.outcome`.
///
/// ```text
/// 127.0.0.1:51234 "GET /items?x=1 HTTP/1.1" 200 1234 0.412ms
/// ```
package struct AccessLogRecord: Sendable {
    /// How a request ended, when not normally.
    package enum Outcome: String, Sendable {
        /// The response was cut (client gone, application failed midway, shutdown).
        case aborted
        /// The request ran past its time limit.
        case timedOut = "timed-out"
    }

    package var id: RequestID
    package var method: String
    /// The request target as sent (path and query).
    package var target: String
    package var httpVersion: String
    package var client: ASGIAddress?
    /// The response status; `nil` when none went out.
    package var status: Int?
    /// Response body bytes, when the frontend counts them.
    package var bytes: Int?
    package var duration: Duration
    package var outcome: Outcome?

    package init(
        id: RequestID,
        method: String,
        target: String,
        httpVersion: String,
        client: ASGIAddress?,
        status: Int?,
        bytes: Int?,
        duration: Duration,
        outcome: Outcome? = nil
    ) {
        self.id = id
        self.method = method
        self.target = target
        self.httpVersion = httpVersion
        self.client = client
        self.status = status
        self.bytes = bytes
        self.duration = duration
        self.outcome = outcome
    }

    /// Logs the record at `info`.
    package func log(to logger: Logger) {
        guard logger.logLevel <= .info else { return }
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let status = self.status.map(String.init) ?? "-"
        var metadata: Logger.Metadata = [
            "asgi.request.id": "\(id)",
            "asgi.request.method": "\(method)",
            "asgi.request.path": "\(target)",
            "asgi.request.status": "\(status)",
            "asgi.request.duration": "\(seconds)",
        ]
        if let bytes { metadata["asgi.request.bytes"] = "\(bytes)" }
        if let client { metadata["asgi.request.client"] = "\(Self.format(client))" }
        if let outcome { metadata["asgi.request.outcome"] = "\(outcome.rawValue)" }
        let milliseconds = (seconds * 1e6).rounded() / 1e3
        let line =
            "\(client.map(Self.format) ?? "-") \"\(method) \(target) HTTP/\(httpVersion)\" \(status) \(bytes.map(String.init) ?? "-") \(milliseconds)ms\(outcome.map { " " + $0.rawValue } ?? "")"
        logger.info("\(line)", metadata: metadata)
    }

    private static func format(_ address: ASGIAddress) -> String {
        address.port.map { "\(address.host):\($0)" } ?? address.host
    }
}
