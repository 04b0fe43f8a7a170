import Glibc
import Logging

/// The supervisor (master) process: binds the listening sockets, spawns the worker processes
/// that serve them, and keeps `--workers` of them serving whatever the application does. It never
/// runs application code.
///
/// Its loop runs on a thread of its own, which lives as long as the supervisor: a worker's
/// parent-death signal (PR_SET_PDEATHSIG) follows the thread that spawned it, so a pool thread
/// that ended would stop workers for nothing. The loop waits in `poll` for a signal (self-pipe), a
/// worker's wake-up (readiness, a recycling request) or the next 100 ms tick; it then reaps the
/// workers that exited, reads the scoreboard (readiness, recycling, the oldest request of each
/// worker for `--worker-timeout`) and carries out the ``WorkerPool``'s decisions.
///
/// Unchecked `Sendable`: it is built on the calling task, which then only hands it to the
/// supervisor's thread (`Gateway.supervise` starts that thread with it and touches it no more);
/// from then on that thread alone runs its methods and touches its mutable state (`image`, `pool`,
/// `random`).
final class Supervisor: @unchecked Sendable {
    private let options: GatewayOptions
    private let logger: Logger
    private let sockets: ListeningSockets
    private let scoreboard: Scoreboard
    private let spawner: WorkerSpawner
    private let channel: Int32
    private let signals: Int32
    private let notifier: SystemdNotifier?
    /// The executable's path at startup: where a reload finds the new build.
    private let executablePath: String?
    private var image: ExecutableImage
    private var pool: WorkerPool
    private let workerTimeoutNanos: UInt64?
    private let maxRequests: UInt64
    private let maxRequestsJitter: UInt64
    private let memoryLimitBytes: UInt64
    private var random = SystemRandomNumberGenerator()

    /// Binds the sockets and prepares the scoreboard; workers start in ``run()``.
    /// - Throws: ``GatewayError`` when a socket cannot be bound or the process cannot be set up.
    init(options: GatewayOptions, arguments: [String], logger: Logger) throws {
        self.options = options
        self.logger = logger
        let supervision = options.supervision
        // Resolve the path before anything can replace the file.
        executablePath = ExecutableImage.resolvedPath()
        image = try ExecutableImage.running()
        sockets = try ListeningSockets(options: options, logger: logger)
        do {
            scoreboard = try Scoreboard.create(
                slots: supervision.workers * 3 + 1,
                supervised: true,
                configuredWorkers: supervision.workers
            )
            var ends: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
                throw GatewayError(.startFailed, "Creating the workers' wake-up channel failed: \(SystemCalls.describe(errno)).")
            }
            channel = try SystemCalls.moveAboveInheritedNumbers(ends[0])
            _ = fcntl(channel, F_SETFL, fcntl(channel, F_GETFL) | O_NONBLOCK)
            let workerEnd = try SystemCalls.moveAboveInheritedNumbers(ends[1])
            spawner = WorkerSpawner(arguments: arguments, sockets: sockets, scoreboard: scoreboard.descriptor, channel: workerEnd)
            signal(SIGPIPE, SIG_IGN)
            signals = try SignalPipe.install([SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGCHLD])
        } catch {
            sockets.close()
            throw error
        }
        notifier = SystemdNotifier.fromEnvironment
        workerTimeoutNanos = supervision.effectiveWorkerTimeout(requestTimeout: options.requestTimeout).map { SystemCalls.nanos(seconds: $0) }
        maxRequests = UInt64(supervision.maxRequests)
        maxRequestsJitter = UInt64(supervision.maxRequestsJitter)
        memoryLimitBytes = UInt64(supervision.workerMemoryLimit) << 20
        let drain = SystemCalls.nanos(seconds: options.gracefulTimeout) + 5_000_000_000
        pool = WorkerPool(
            settings: WorkerPool.Settings(
                workers: supervision.workers,
                drainNanos: drain,
                startupNanos: max(60_000_000_000, workerTimeoutNanos ?? 0),
                timedOutWaitNanos: 10_000_000_000
            )
        )
    }

    /// Serves until a shutdown completes; returns on the supervisor's thread.
    func run() {
        var listening: [String] = []
        if let http = sockets.http { listening.append("http://\(http.address)") }
        if let fastCGI = sockets.fastCGI { listening.append("FastCGI \(fastCGI.address)") }
        logger.info("Supervisor (pid \(getpid())) listening on \(listening.joined(separator: " and ")); starting \(pool.settings.workers) worker(s).")
        while true {
            let now = SystemCalls.monotonicNanos()
            for signal in SignalPipe.take(from: signals) { handle(signal: signal, at: now) }
            reap(at: now)
            if pool.phase != .serving && pool.workers.isEmpty { break }
            observe(at: now)
            perform(pool.actions(at: now, freeSlots: scoreboard.slotCount - pool.workers.count), at: now)
            wait(from: now)
        }
        sockets.close()
        logger.info("Supervisor stopped.")
    }

    // MARK: Signals

    private func handle(signal: Int32, at now: UInt64) {
        switch signal {
        case SIGHUP:
            reload()
        case SIGTERM, SIGINT:
            if pool.phase == .serving {
                logger.info(
                    "Shutting down (\(SignalName.of(signal))): \(pool.workers.count) worker(s) get up to \(options.gracefulTimeout) s for requests in flight."
                )
                notifier?.send("STOPPING=1")
                sockets.close()
                perform(pool.stop(graceful: true, at: now), at: now)
            } else if pool.phase == .stopping {
                logger.warning("\(SignalName.of(signal)) again: stopping at once.")
                perform(pool.stop(graceful: false, at: now), at: now)
            }
        case SIGQUIT:
            if pool.phase != .quitting {
                logger.warning("Stopping at once (SIGQUIT): killing \(pool.workers.count) worker(s).")
                notifier?.send("STOPPING=1")
                sockets.close()
                perform(pool.stop(graceful: false, at: now), at: now)
            }
        default:
            break  // SIGCHLD: the loop reaps.
        }
    }

    private func reload() {
        guard pool.phase == .serving else { return }
        if let executablePath {
            do {
                let next = try ExecutableImage.open(executablePath)
                image.close()
                image = next
            } catch {
                logger.warning("Reload: \(error); the new workers run the current executable.")
            }
        }
        guard pool.reload() else { return }
        scoreboard.store(ScoreboardLayout.Header.generation, UInt64(pool.generation))
        scoreboard.increment(ScoreboardLayout.Header.reloads)
        notifier?.send("RELOADING=1\nMONOTONIC_USEC=\(SystemCalls.monotonicNanos() / 1000)")
        logger.info(
            "Reloading (SIGHUP): starting generation \(pool.generation) from \(executablePath ?? "the running executable"); the current workers stop once their replacements accept."
        )
    }

    // MARK: Workers

    /// Reaps every worker that exited and logs how (what it was serving, if it died).
    private func reap(at now: UInt64) {
        for worker in pool.workers {
            var status: Int32 = 0
            guard waitpid(worker.pid, &status, WNOHANG) == worker.pid else { continue }
            let exit = ProcessExit(waitStatus: status)
            let slot = scoreboard.slot(worker.slot)
            let requests = slot.requestsInFlight()
            let untracked = Int(Int64(bitPattern: slot.load(ScoreboardLayout.Slot.untrackedInFlight)))
            let served = slot.requestsServed
            let startedRequests = served > 0 || !requests.isEmpty || untracked > 0
            guard let (_, outcome) = pool.exited(pid: worker.pid, served: startedRequests, at: now) else { continue }
            scoreboard.increment(ScoreboardLayout.Header.requestsServedByGoneWorkers, by: slot.free())
            let name = "Worker \(worker.number) (pid \(worker.pid))"
            // Requests ran until the crash, not until the backtrace was done.
            let serving = Self.describe(requests, untracked: untracked, served: served, at: worker.crashedAt ?? now)
            switch outcome {
            case .expected(let reason):
                if exit.isOrderlyStop {
                    logger.info("\(name) stopped (\(exit)) after \(served) request(s)\(Self.describe(reason)).")
                } else {
                    scoreboard.increment(ScoreboardLayout.Header.unexpectedDeaths)
                    logger.error("\(name) \(exit) while stopping, \(serving).")
                }
            case .died:
                scoreboard.increment(ScoreboardLayout.Header.unexpectedDeaths)
                logger.error("\(name) \(exit) \(serving); a new worker replaces it.")
            case .failedToStart(let delay):
                scoreboard.increment(ScoreboardLayout.Header.unexpectedDeaths)
                logger.error("\(name) \(exit) before it served a request; next start in \(StatusReport.format(Double(delay) / 1e9)) s.")
            }
        }
    }

    /// Reads the scoreboard: workers that accept now, ask to be recycled, or hold a request past
    /// `--worker-timeout`.
    private func observe(at now: UInt64) {
        for worker in pool.workers where worker.isLive {
            let slot = scoreboard.slot(worker.slot)
            let name = "Worker \(worker.number) (pid \(worker.pid))"
            if slot.state == .crashed {
                // Its crash handler ran: replace it now rather than after the runtime's backtrace.
                // The clock read now, not at the tick's start: the crash may be later than that.
                pool.crashed(pid: worker.pid, at: SystemCalls.monotonicNanos())
                logger.debug("\(name) is crashing: starting its replacement.")
                continue
            }
            if worker.readyAt == nil {
                guard slot.state == .ready else { continue }
                pool.becameReady(pid: worker.pid, at: now)
                logger.info("\(name) accepts connections (started in \(Self.milliseconds(now &- worker.spawnedAt)) ms).")
            }
            if worker.replace == nil, slot.recycleReason != .none {
                let reason: WorkerPool.ReplaceReason = slot.recycleReason == .memory ? .memory : .maxRequests
                if pool.replace(pid: worker.pid, because: reason, at: now) {
                    scoreboard.increment(ScoreboardLayout.Header.recycledWorkers)
                    let detail =
                        reason == .memory
                        ? "uses \(slot.load(ScoreboardLayout.Slot.residentBytes) >> 20) MiB (--worker-memory-limit \(memoryLimitBytes >> 20) MiB)"
                        : "served \(slot.requestsServed) requests (--max-requests \(maxRequests))"
                    logger.info("\(name) \(detail): starting its replacement.")
                }
            }
            if let timeout = workerTimeoutNanos, worker.replace != .timeout,
                let oldest = slot.oldestRequestStart(), now > oldest, now - oldest > timeout,
                pool.replace(pid: worker.pid, because: .timeout, at: now)
            {
                scoreboard.increment(ScoreboardLayout.Header.workerTimeouts)
                let request = slot.requestsInFlight().first.map { "\($0.summary) for \(StatusReport.format($0.seconds(at: now))) s" } ?? "a request"
                logger.warning(
                    "\(name) has been serving \(request), past --worker-timeout \(StatusReport.format(Double(timeout) / 1e9)) s: starting its replacement, then killing it."
                )
            }
        }
    }

    private func perform(_ actions: [WorkerPool.Action], at now: UInt64) {
        for action in actions {
            switch action {
            case .spawn(let number, let generation):
                spawn(number: number, generation: generation, at: now)
            case .signal(let pid, let signal, let reason):
                guard let worker = pool.worker(pid) else { continue }
                let slot = scoreboard.slot(worker.slot)
                if signal == SIGTERM { slot.store(ScoreboardLayout.Slot.state, WorkerState.draining.rawValue) }
                let name = "worker \(worker.number) (pid \(pid))"
                switch reason {
                case .replaced(.timeout), .timedOut:
                    let request =
                        slot.requestsInFlight().first.map { "\($0.summary) has run \(StatusReport.format($0.seconds(at: now))) s" }
                        ?? "its request ran"
                    logger.warning(
                        "Killing \(name): \(request), past --worker-timeout\(reason == .timedOut ? "; its replacement did not start in time" : "")."
                    )
                case .startupTimeout:
                    logger.error("Killing \(name): it did not accept connections within \(Self.milliseconds(pool.settings.startupNanos) / 1000) s.")
                case .drainTimeout:
                    logger.warning("Killing \(name): it did not finish its requests within --graceful-timeout.")
                case .crashTimeout:
                    logger.warning("Killing \(name): it crashed \(Self.milliseconds(pool.settings.crashNanos) / 1000) s ago and is still there.")
                case .replaced, .shutdown, .quit:
                    logger.debug("Sending \(SignalName.of(signal)) to \(name).")
                }
                kill(pid, signal)
            case .ready(let generation):
                let pids = pool.workers.filter { $0.generation == generation && $0.stop == nil }.map { String($0.pid) }
                logger.info("\(pids.count) worker(s) ready (generation \(generation); pids \(pids.joined(separator: ", "))).")
                notifier?.send("READY=1\nSTATUS=\(pids.count) worker(s) ready\nMAINPID=\(getpid())")
            }
        }
    }

    private func spawn(number: Int, generation: Int, at now: UInt64) {
        let used = Set(pool.workers.map(\.slot))
        guard let slotIndex = (0..<scoreboard.slotCount).first(where: { !used.contains($0) }) else { return }
        let slot = scoreboard.slot(slotIndex)
        let limit = maxRequests > 0 ? maxRequests + UInt64.random(in: 0...maxRequestsJitter, using: &random) : 0
        slot.prepare(number: number, generation: generation, maxRequests: limit, memoryLimitBytes: memoryLimitBytes, now: now)
        do {
            let pid = try spawner.spawn(image, handOver: spawner.handOver(slot: slotIndex, number: number, generation: generation))
            slot.store(ScoreboardLayout.Slot.pid, UInt64(pid))
            pool.spawned(pid: pid, slot: slotIndex, number: number, generation: generation, at: now)
            logger.info("Worker \(number) started (pid \(pid), generation \(generation)).")
        } catch {
            _ = slot.free()
            let delay = pool.spawnFailed(at: now)
            logger.error("\(error); next try in \(StatusReport.format(Double(delay) / 1e9)) s.")
        }
    }

    /// Waits for a signal, a worker's wake-up or the next tick (100 ms, or sooner when a start
    /// waits on the back-off).
    private func wait(from now: UInt64) {
        var timeout: UInt64 = 100_000_000
        let notBefore = pool.backoff.notBefore
        if notBefore > now { timeout = min(timeout, notBefore - now) }
        var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0), pollfd(fd: channel, events: Int16(POLLIN), revents: 0)]
        SystemCalls.poll(&fds, timeoutMilliseconds: Int32(max(1, timeout / 1_000_000)))
        if fds[1].revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 64)
            while buffer.withUnsafeMutableBytes({ recv(channel, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }) > 0 {}
        }
    }

    // MARK: Wording

    /// `while serving GET /trap (for 0.012 s)`, several requests listed, or `while idle`.
    static func describe(_ requests: [InFlightRequest], untracked: Int, served: UInt64, at now: UInt64) -> String {
        if requests.isEmpty && untracked <= 0 {
            return "while idle, after \(served) request(s)"
        }
        var listed = requests.prefix(5).map { "\($0.summary) (for \(StatusReport.format($0.seconds(at: now))) s)" }
        let more = requests.count - listed.count + max(0, untracked)
        if more > 0 { listed.append("\(more) more") }
        return "while serving " + listed.joined(separator: ", ")
    }

    private static func describe(_ reason: WorkerPool.StopReason) -> String {
        switch reason {
        case .replaced(let why): return "; replaced because \(why.rawValue)"
        case .timedOut: return "; killed past --worker-timeout"
        case .startupTimeout: return "; killed for not accepting in time"
        case .drainTimeout: return "; killed past --graceful-timeout"
        case .shutdown: return ""
        case .quit: return "; stopped at once"
        case .crashTimeout: return "; killed after it crashed"
        }
    }

    private static func milliseconds(_ nanos: UInt64) -> UInt64 {
        nanos / 1_000_000
    }
}
