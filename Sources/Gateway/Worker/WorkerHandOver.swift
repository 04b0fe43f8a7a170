import Glibc

/// What a supervisor hands a worker process it spawns: the marker in its environment that makes
/// `Gateway.run` serve as a worker, its scoreboard slot, and the descriptors it inherits.
///
/// ```text
/// SWIFT_ASGI_WORKER=v1;slot=2;number=1;generation=0;supervisor=4242;http=3;fastcgi=0;scoreboard=4;channel=5
/// ```
struct WorkerHandOver: Sendable, Hashable {
    /// The environment variable that carries it.
    static let variable = "SWIFT_ASGI_WORKER"

    /// The descriptor numbers the supervisor gives its workers: the FastCGI socket where
    /// FastCGI servers expect it (`FCGI_LISTENSOCK_FILENO`, 0), the rest just above stderr.
    enum Descriptor {
        static let fastCGI: Int32 = 0
        static let http: Int32 = 3
        static let scoreboard: Int32 = 4
        static let channel: Int32 = 5
        /// Every number above; the supervisor keeps its own descriptors clear of them.
        static let all: Set<Int32> = [fastCGI, http, scoreboard, channel]
    }

    /// The worker's scoreboard slot.
    var slot: Int
    /// Which of the `--workers` it is (1-based): the name logs and the status page give it.
    var number: Int
    /// The reload generation it belongs to (0 until the first SIGHUP).
    var generation: Int
    /// The supervisor's pid: the worker stops when its parent is no longer this process.
    var supervisorPID: Int32
    /// The HTTP listening socket, if the runner serves HTTP.
    var http: Int32?
    /// The FastCGI listening socket, if the runner serves FastCGI.
    var fastCGI: Int32?
    /// The scoreboard's memory file.
    var scoreboard: Int32
    /// The datagram socket that wakes the supervisor (readiness, recycling requests).
    var channel: Int32

    /// The variable's value.
    var encoded: String {
        let fields: [(String, String)] = [
            ("slot", String(slot)), ("number", String(number)), ("generation", String(generation)),
            ("supervisor", String(supervisorPID)), ("http", http.map { String($0) } ?? "-"),
            ("fastcgi", fastCGI.map { String($0) } ?? "-"), ("scoreboard", String(scoreboard)),
            ("channel", String(channel)),
        ]
        return "v1;" + fields.map { "\($0.0)=\($0.1)" }.joined(separator: ";")
    }

    init(slot: Int, number: Int, generation: Int, supervisorPID: Int32, http: Int32?, fastCGI: Int32?, scoreboard: Int32, channel: Int32) {
        self.slot = slot
        self.number = number
        self.generation = generation
        self.supervisorPID = supervisorPID
        self.http = http
        self.fastCGI = fastCGI
        self.scoreboard = scoreboard
        self.channel = channel
    }

    /// Parses the variable's value; `nil` when it is not one this version writes.
    init?(encoded: String) {
        let parts = encoded.split(separator: ";")
        guard parts.first == "v1" else { return nil }
        var fields: [Substring: Substring] = [:]
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            fields[pair[0]] = pair[1]
        }
        func number(_ key: Substring) -> Int? { fields[key].flatMap { Int($0) } }
        func descriptor(_ key: Substring) -> Int32?? {
            guard let value = fields[key] else { return nil }
            if value == "-" { return .some(nil) }
            return Int32(value).map { .some($0) }
        }
        guard let slot = number("slot"), slot >= 0, let workerNumber = number("number"), workerNumber >= 1,
            let generation = number("generation"), generation >= 0,
            let supervisor = number("supervisor").flatMap({ Int32(exactly: $0) }), supervisor > 0,
            let http = descriptor("http"), let fastCGI = descriptor("fastcgi"),
            let scoreboard = number("scoreboard").flatMap({ Int32(exactly: $0) }),
            let channel = number("channel").flatMap({ Int32(exactly: $0) })
        else { return nil }
        self.init(
            slot: slot,
            number: workerNumber,
            generation: generation,
            supervisorPID: supervisor,
            http: http,
            fastCGI: fastCGI,
            scoreboard: scoreboard,
            channel: channel
        )
    }

    /// The hand-over in this process's environment, removed from it (so that programs the
    /// application starts never take themselves for workers); `nil` when there is none.
    /// - Throws: ``GatewayError`` `workerHandOver` when the variable is set but malformed.
    static func take() throws -> WorkerHandOver? {
        guard let raw = getenv(variable) else { return nil }
        let value = String(cString: raw)
        unsetenv(variable)
        guard let handOver = WorkerHandOver(encoded: value) else {
            throw GatewayError(
                .workerHandOver,
                "\(variable) is set to '\(value)', which is not a supervisor's hand-over: unset it to run this program yourself."
            )
        }
        return handOver
    }
}
