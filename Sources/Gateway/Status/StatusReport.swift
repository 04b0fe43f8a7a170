/// The status page over the scoreboard, aggregated over every worker process, as PHP-FPM's
/// `pm.status_path` shows a pool: text by default, JSON with `?json`, one block per process with
/// `?full`.
struct StatusReport {
    let snapshot: ScoreboardSnapshot
    /// The executable's name, shown as the pool.
    let pool: String
    /// When the report is made, on the monotonic clock.
    let now: UInt64

    private typealias Field = (label: String, key: String, value: Value)

    private enum Value {
        case number(UInt64)
        case text(String)

        var plain: String {
            switch self {
            case .number(let number): return String(number)
            case .text(let text): return text
            }
        }

        var json: String {
            switch self {
            case .number(let number): return String(number)
            case .text(let text): return JSONText.quoted(text)
            }
        }
    }

    private func count(_ state: String) -> UInt64 {
        UInt64(snapshot.workers.filter { label(of: $0) == state }.count)
    }

    private func label(of worker: ScoreboardSnapshot.Worker) -> String {
        switch worker.state {
        case .free, .starting: return "starting"
        case .draining: return "draining"
        case .crashed: return "crashed"
        case .ready: return worker.requestsInFlight > 0 ? "busy" : "idle"
        }
    }

    private var poolFields: [Field] {
        let inFlight = snapshot.workers.reduce(0) { $0 + UInt64($1.requestsInFlight) }
        let served = snapshot.workers.reduce(snapshot.requestsServedByGoneWorkers) { $0 + $1.requestsServed }
        return [
            ("pool", "pool", .text(pool)),
            ("process manager", "process_manager", .text(snapshot.supervised ? "supervisor" : "in-process")),
            ("supervisor pid", "supervisor_pid", .number(UInt64(max(0, snapshot.supervisorPID)))),
            ("start time", "start_time", .number(snapshot.startedAtWallSeconds)),
            ("start since", "start_since", .number(seconds(since: snapshot.startedAtNanos))),
            ("generation", "generation", .number(UInt64(snapshot.generation))),
            ("requests served", "requests_served", .number(served)),
            ("requests in flight", "requests_in_flight", .number(inFlight)),
            ("workers", "workers", .number(UInt64(snapshot.configuredWorkers))),
            ("total processes", "total_processes", .number(UInt64(snapshot.workers.count))),
            ("starting processes", "starting_processes", .number(count("starting"))),
            ("idle processes", "idle_processes", .number(count("idle"))),
            ("busy processes", "busy_processes", .number(count("busy"))),
            ("draining processes", "draining_processes", .number(count("draining"))),
            ("worker deaths", "worker_deaths", .number(snapshot.unexpectedDeaths)),
            ("worker timeouts", "worker_timeouts", .number(snapshot.workerTimeouts)),
            ("recycled workers", "recycled_workers", .number(snapshot.recycledWorkers)),
            ("reloads", "reloads", .number(snapshot.reloads)),
        ]
    }

    private func fields(of worker: ScoreboardSnapshot.Worker) -> [Field] {
        [
            ("worker", "worker", .number(UInt64(worker.number))),
            ("pid", "pid", .number(UInt64(max(0, worker.pid)))),
            ("generation", "generation", .number(UInt64(worker.generation))),
            ("state", "state", .text(label(of: worker))),
            ("start since", "start_since", .number(seconds(since: worker.spawnedAtNanos))),
            ("requests served", "requests_served", .number(worker.requestsServed)),
            ("requests in flight", "requests_in_flight", .number(UInt64(worker.requestsInFlight))),
            ("resident memory", "resident_bytes", .number(worker.residentBytes)),
        ]
    }

    private func seconds(since start: UInt64) -> UInt64 {
        start == 0 || now < start ? 0 : (now - start) / 1_000_000_000
    }

    private static func line(_ label: String, _ value: String) -> String {
        "\(label):\(String(repeating: " ", count: max(1, 22 - label.count)))\(value)\n"
    }

    /// One `label: value` line per field; with `full`, a block per process listing its requests.
    func text(full: Bool) -> String {
        var out = poolFields.map { Self.line($0.label, $0.value.plain) }.joined()
        guard full else { return out }
        for worker in snapshot.workers {
            out += "\n************************\n"
            out += fields(of: worker).map { Self.line($0.label, $0.value.plain) }.joined()
            if worker.requests.isEmpty && worker.untrackedRequests == 0 {
                out += Self.line("request", "-")
            }
            for request in worker.requests {
                out += Self.line("request", "\(request.summary) (\(Self.format(request.seconds(at: now))) s)")
            }
            if worker.untrackedRequests > 0 {
                out += Self.line("request", "\(worker.untrackedRequests) more, not tracked one by one")
            }
        }
        return out
    }

    /// A JSON object; with `full`, a `processes` array with each process's requests.
    func json(full: Bool) -> String {
        var members = poolFields.map { "\"\($0.key)\":\($0.value.json)" }
        if full {
            let processes = snapshot.workers.map { worker in
                var entries = fields(of: worker).map { "\"\($0.key)\":\($0.value.json)" }
                let requests = worker.requests.map { request in
                    "{\"method\":\(JSONText.quoted(request.method)),\"path\":\(JSONText.quoted(request.path)),\"seconds\":\(Self.format(request.seconds(at: now)))}"
                }
                entries.append("\"requests\":[\(requests.joined(separator: ","))]")
                return "{" + entries.joined(separator: ",") + "}"
            }
            members.append("\"processes\":[\(processes.joined(separator: ","))]")
        }
        return "{" + members.joined(separator: ",") + "}\n"
    }

    /// Seconds with three decimals.
    static func format(_ seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
