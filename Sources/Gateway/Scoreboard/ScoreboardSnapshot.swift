/// What the scoreboard holds at one moment: what the status page shows.
struct ScoreboardSnapshot: Sendable {
    /// One worker process.
    struct Worker: Sendable {
        var slot: Int
        var number: Int
        var pid: Int32
        var generation: Int
        var state: WorkerState
        var spawnedAtNanos: UInt64
        var readyAtNanos: UInt64?
        var requestsServed: UInt64
        var residentBytes: UInt64
        var recycleReason: RecycleReason
        /// Requests in flight with an entry, oldest first.
        var requests: [InFlightRequest]
        /// Requests in flight beyond the entries.
        var untrackedRequests: Int

        var requestsInFlight: Int { requests.count + untrackedRequests }
    }

    var supervised: Bool
    var supervisorPID: Int32
    var startedAtWallSeconds: UInt64
    var startedAtNanos: UInt64
    var configuredWorkers: Int
    var generation: Int
    var unexpectedDeaths: UInt64
    var workerTimeouts: UInt64
    var recycledWorkers: UInt64
    var reloads: UInt64
    var requestsServedByGoneWorkers: UInt64
    /// The processes in the table, by worker number then slot.
    var workers: [Worker]

    /// Reads `scoreboard` (each request entry consistently; the rest word by word).
    static func read(_ scoreboard: Scoreboard) -> ScoreboardSnapshot {
        typealias Header = ScoreboardLayout.Header
        typealias Slot = ScoreboardLayout.Slot
        var workers: [Worker] = []
        for index in 0..<scoreboard.slotCount {
            let slot = scoreboard.slot(index)
            let state = slot.state
            guard state != .free else { continue }
            let ready = slot.load(Slot.readyAtMonotonicNanos)
            workers.append(
                Worker(
                    slot: index,
                    number: Int(slot.load(Slot.number)),
                    pid: slot.pid,
                    generation: Int(slot.load(Slot.generation)),
                    state: state,
                    spawnedAtNanos: slot.load(Slot.spawnedAtMonotonicNanos),
                    readyAtNanos: ready == 0 ? nil : ready,
                    requestsServed: slot.requestsServed,
                    residentBytes: slot.load(Slot.residentBytes),
                    recycleReason: slot.recycleReason,
                    requests: slot.requestsInFlight(),
                    untrackedRequests: Int(Int64(bitPattern: slot.load(Slot.untrackedInFlight)).clamped(to: 0...Int64(Int32.max)))
                )
            )
        }
        workers.sort { ($0.number, $0.slot) < ($1.number, $1.slot) }
        return ScoreboardSnapshot(
            supervised: scoreboard.load(Header.supervised) == 1,
            supervisorPID: Int32(truncatingIfNeeded: scoreboard.load(Header.supervisorPID)),
            startedAtWallSeconds: scoreboard.load(Header.startedAtWallSeconds),
            startedAtNanos: scoreboard.load(Header.startedAtMonotonicNanos),
            configuredWorkers: Int(scoreboard.load(Header.configuredWorkers)),
            generation: Int(scoreboard.load(Header.generation)),
            unexpectedDeaths: scoreboard.load(Header.unexpectedDeaths),
            workerTimeouts: scoreboard.load(Header.workerTimeouts),
            recycledWorkers: scoreboard.load(Header.recycledWorkers),
            reloads: scoreboard.load(Header.reloads),
            requestsServedByGoneWorkers: scoreboard.load(Header.requestsServedByGoneWorkers),
            workers: workers
        )
    }
}

extension Comparable {
    fileprivate func clamped(to range: ClosedRange<Self>) -> Self {
        min(max(self, range.lowerBound), range.upperBound)
    }
}
