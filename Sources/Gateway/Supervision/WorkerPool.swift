import Glibc

/// The supervisor's decisions, kept apart from processes, signals and clocks so that they can be
/// tested alone: which workers to start, which to stop, with which signal, and when the service
/// is ready. The ``Supervisor`` feeds it what it observes and carries out its actions.
///
/// Each of the `--workers` numbers should have one worker of the current generation that is not
/// being replaced. A worker to replace (recycled, timed out, of an old generation) keeps serving
/// until its replacement accepts; then it is told to drain (SIGTERM), or killed (SIGKILL) when it
/// is stuck past `--worker-timeout`. Recycling is staggered: one worker at a time.
struct WorkerPool: Sendable {
    /// Limits the pool works with, in monotonic nanoseconds.
    struct Settings: Sendable, Equatable {
        /// `--workers`.
        var workers: Int
        /// How long a draining worker may take before it is killed (`--graceful-timeout` plus a margin).
        var drainNanos: UInt64
        /// How long a worker may take to accept before it is killed.
        var startupNanos: UInt64
        /// How long a timed-out worker waits for its replacement before it is killed anyway.
        var timedOutWaitNanos: UInt64
        /// How long a crashing worker may take to die (the Swift runtime prints a backtrace first).
        var crashNanos: UInt64 = 60_000_000_000
    }

    /// Why a worker is replaced.
    enum ReplaceReason: String, Sendable, Equatable {
        case maxRequests = "it served --max-requests"
        case memory = "its memory grew past --worker-memory-limit"
        case timeout = "a request ran past --worker-timeout"
        case reload = "a reload started a new generation"

        var isRecycling: Bool { self == .maxRequests || self == .memory }
    }

    /// Why a worker is told to stop.
    enum StopReason: Sendable, Equatable {
        /// Its replacement accepts.
        case replaced(ReplaceReason)
        /// Stuck past `--worker-timeout`, and its replacement did not come up in time.
        case timedOut
        /// It did not accept within the startup limit.
        case startupTimeout
        /// It did not finish draining in time.
        case drainTimeout
        /// SIGTERM or SIGINT: graceful shutdown.
        case shutdown
        /// SIGQUIT (or a second SIGTERM/SIGINT): immediate stop.
        case quit
        /// It crashed, and is still not gone after ``Settings/crashNanos`` (its runtime's crash
        /// report hangs).
        case crashTimeout
    }

    /// A signal sent to a worker, and when it must be gone.
    struct Stop: Sendable, Equatable {
        var signal: Int32
        var reason: StopReason
        /// When a SIGTERM becomes a SIGKILL.
        var deadline: UInt64?
    }

    /// A worker process.
    struct Worker: Sendable, Equatable {
        let pid: Int32
        let slot: Int
        let number: Int
        let generation: Int
        let spawnedAt: UInt64
        var readyAt: UInt64?
        /// A replacement is wanted, since `replaceAt`.
        var replace: ReplaceReason?
        var replaceAt: UInt64?
        var stop: Stop?
        /// When its crash handler reported a crash: it is replaced at once, as if gone.
        var crashedAt: UInt64?

        /// Whether it counts as serving its number (not told to stop, not crashing).
        var isLive: Bool { stop == nil && crashedAt == nil }
    }

    /// What the supervisor should do.
    enum Action: Sendable, Equatable {
        /// Start a worker with this number of this generation (then report ``spawned`` or
        /// ``spawnFailed``).
        case spawn(number: Int, generation: Int)
        /// Send `signal` to worker `pid`.
        case signal(pid: Int32, signal: Int32, reason: StopReason)
        /// Every number has a ready worker of `generation`: the start or a reload completed.
        case ready(generation: Int)
    }

    enum Phase: Sendable, Equatable {
        case serving, stopping, quitting
    }

    /// How a worker's exit reads.
    enum Exit: Sendable, Equatable {
        /// It was told to stop and did.
        case expected(StopReason)
        /// It died on its own after it served (or while serving): replaced at once.
        case died
        /// It died without serving anything: the next start waits `delayNanos`.
        case failedToStart(delayNanos: UInt64)
    }

    let settings: Settings
    private(set) var workers: [Worker] = []
    private(set) var generation = 0
    private(set) var phase = Phase.serving
    private(set) var backoff = RestartBackoff()
    private var announcedGeneration: Int?

    init(settings: Settings) {
        self.settings = settings
    }

    func worker(_ pid: Int32) -> Worker? {
        workers.first { $0.pid == pid }
    }

    private func index(of pid: Int32) -> Int? {
        workers.firstIndex { $0.pid == pid }
    }

    // MARK: Events

    mutating func spawned(pid: Int32, slot: Int, number: Int, generation: Int, at now: UInt64) {
        workers.append(Worker(pid: pid, slot: slot, number: number, generation: generation, spawnedAt: now))
    }

    /// Spawning failed (no process exists): back off as for a worker that died at startup.
    mutating func spawnFailed(at now: UInt64) -> UInt64 {
        backoff.failed(at: now)
    }

    mutating func becameReady(pid: Int32, at now: UInt64) {
        guard let index = index(of: pid), workers[index].readyAt == nil else { return }
        workers[index].readyAt = now
    }

    /// Worker `pid` reported a crash: its number gets a new worker now, while it dies.
    mutating func crashed(pid: Int32, at now: UInt64) {
        guard let index = index(of: pid), workers[index].crashedAt == nil else { return }
        workers[index].crashedAt = now
    }

    /// Asks for `pid` to be replaced; whether the request is taken now. Recycling waits while
    /// another worker is being recycled (ask again later); a timeout always goes ahead.
    mutating func replace(pid: Int32, because reason: ReplaceReason, at now: UInt64) -> Bool {
        guard phase == .serving, let index = index(of: pid), workers[index].isLive else { return false }
        if let current = workers[index].replace {
            guard reason == .timeout, current != .timeout else { return false }
        } else if reason.isRecycling, workers.contains(where: { $0.replace?.isRecycling == true && $0.isLive }) {
            return false
        }
        workers[index].replace = reason
        workers[index].replaceAt = now
        return true
    }

    /// Starts a new generation (SIGHUP): every worker is replaced by one of it.
    mutating func reload() -> Bool {
        guard phase == .serving else { return false }
        generation += 1
        return true
    }

    /// Records that worker `pid` exited; `served` tells whether it started any request.
    mutating func exited(pid: Int32, served: Bool, at now: UInt64) -> (Worker, Exit)? {
        guard let index = index(of: pid) else { return nil }
        let worker = workers.remove(at: index)
        if let stop = worker.stop, worker.crashedAt == nil {
            // Killed for not accepting in time: as much a failed start as a crash.
            if stop.reason == .startupTimeout { _ = backoff.failed(at: now) }
            return (worker, .expected(stop.reason))
        }
        if served {
            backoff.succeeded()
            return (worker, .died)
        }
        let settled = worker.readyAt.map { now >= $0 + RestartBackoff.settledNanos } ?? false
        if settled {
            backoff.succeeded()
            return (worker, .died)
        }
        return (worker, .failedToStart(delayNanos: backoff.failed(at: now)))
    }

    /// Stops every worker: gracefully (SIGTERM, then SIGKILL past the drain limit), or at once.
    mutating func stop(graceful: Bool, at now: UInt64) -> [Action] {
        if graceful {
            guard phase == .serving else { return [] }
            phase = .stopping
        } else {
            guard phase != .quitting else { return [] }
            phase = .quitting
        }
        var actions: [Action] = []
        for index in workers.indices {
            if graceful {
                guard workers[index].stop == nil, workers[index].crashedAt == nil else { continue }
                workers[index].stop = Stop(signal: SIGTERM, reason: .shutdown, deadline: now + settings.drainNanos)
                actions.append(.signal(pid: workers[index].pid, signal: SIGTERM, reason: .shutdown))
            } else {
                guard workers[index].stop?.signal != SIGKILL else { continue }
                workers[index].stop = Stop(signal: SIGKILL, reason: .quit, deadline: nil)
                actions.append(.signal(pid: workers[index].pid, signal: SIGKILL, reason: .quit))
            }
        }
        return actions
    }

    // MARK: Decisions

    /// What to do at `now`, with `freeSlots` scoreboard slots available for new workers.
    mutating func actions(at now: UInt64, freeSlots: Int) -> [Action] {
        var actions = deadlines(at: now)
        guard phase == .serving else { return actions }
        if backoff.failures > 0,
            workers.contains(where: { worker in
                worker.isLive && worker.spawnedAt >= backoff.lastFailureAt
                    && worker.readyAt.map { now >= $0 + RestartBackoff.settledNanos } == true
            })
        {
            backoff.succeeded()
        }
        var freeSlots = freeSlots
        var allReady = true
        for number in 1...max(1, settings.workers) {
            let live = workers.indices.filter { workers[$0].number == number && workers[$0].isLive }
            let wanted = live.filter { workers[$0].generation == generation && workers[$0].replace == nil }
            guard let fresh = wanted.last else {
                allReady = false
                if freeSlots > 0, backoff.allowsStart(at: now) {
                    freeSlots -= 1
                    actions.append(.spawn(number: number, generation: generation))
                }
                continue
            }
            let freshIsReady = workers[fresh].readyAt != nil
            if !freshIsReady { allReady = false }
            for index in live where index != fresh {
                // Once the replacement accepts, the old worker goes; a worker that never
                // accepted goes as soon as it is superseded.
                guard freshIsReady || workers[index].readyAt == nil else { continue }
                let reason = workers[index].replace ?? .reload
                let signal = reason == .timeout ? SIGKILL : SIGTERM
                workers[index].stop = Stop(
                    signal: signal,
                    reason: .replaced(reason),
                    deadline: signal == SIGTERM ? now + settings.drainNanos : nil
                )
                actions.append(.signal(pid: workers[index].pid, signal: signal, reason: .replaced(reason)))
            }
        }
        if allReady, announcedGeneration != generation {
            announcedGeneration = generation
            actions.append(.ready(generation: generation))
        }
        return actions
    }

    /// Workers past a deadline: draining too long, starting too long, or timed out with no
    /// replacement in sight.
    private mutating func deadlines(at now: UInt64) -> [Action] {
        var actions: [Action] = []
        for index in workers.indices {
            let worker = workers[index]
            if let stop = worker.stop {
                if stop.signal == SIGTERM, let deadline = stop.deadline, now >= deadline {
                    workers[index].stop = Stop(signal: SIGKILL, reason: .drainTimeout, deadline: nil)
                    actions.append(.signal(pid: worker.pid, signal: SIGKILL, reason: .drainTimeout))
                }
                continue
            }
            if let crashedAt = worker.crashedAt {
                if now >= crashedAt + settings.crashNanos {
                    workers[index].stop = Stop(signal: SIGKILL, reason: .crashTimeout, deadline: nil)
                    actions.append(.signal(pid: worker.pid, signal: SIGKILL, reason: .crashTimeout))
                }
                continue
            }
            if worker.readyAt == nil, now >= worker.spawnedAt + settings.startupNanos {
                workers[index].stop = Stop(signal: SIGKILL, reason: .startupTimeout, deadline: nil)
                actions.append(.signal(pid: worker.pid, signal: SIGKILL, reason: .startupTimeout))
            } else if worker.replace == .timeout, let since = worker.replaceAt, now >= since + settings.timedOutWaitNanos {
                workers[index].stop = Stop(signal: SIGKILL, reason: .timedOut, deadline: nil)
                actions.append(.signal(pid: worker.pid, signal: SIGKILL, reason: .timedOut))
            }
        }
        return actions
    }
}
