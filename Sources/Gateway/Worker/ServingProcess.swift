import CGatewaySystem
import Glibc
import Logging
import Synchronization

/// The process that serves requests: a worker under a supervisor, or the runner itself with
/// `--workers 0`. It owns its scoreboard slot: it records its requests there, reports when it
/// accepts connections, and a monitor thread keeps its resident memory up to date, asks for
/// recycling past `--worker-memory-limit`, and stops the worker when its supervisor is gone.
final class ServingProcess: Sendable {
    let scoreboard: Scoreboard
    let slot: WorkerSlot
    /// What the supervisor handed over; `nil` when serving in this process.
    let handOver: WorkerHandOver?
    let tracker: RequestTracker
    private let logger: Logger
    /// Frontends not yet accepting; the process is ready when it reaches 0.
    private let frontendsStarting: Atomic<Int>
    private let onReady: (@Sendable () -> Void)?

    private init(
        scoreboard: Scoreboard,
        slot: WorkerSlot,
        handOver: WorkerHandOver?,
        frontends: Int,
        logger: Logger,
        onReady: (@Sendable () -> Void)? = nil
    ) {
        self.scoreboard = scoreboard
        self.slot = slot
        self.handOver = handOver
        self.logger = logger
        self.frontendsStarting = Atomic(frontends)
        self.onReady = onReady
        let channel = handOver?.channel
        self.tracker = RequestTracker(slot: slot, onRecycle: { Self.wake(channel) })
    }

    /// Sets this process up as the worker `handOver` describes: it gets SIGTERM when the
    /// supervisor's thread that spawned it ends, ignores SIGHUP and SIGINT (reloading and
    /// stopping are the supervisor's; a terminal's Ctrl-C reaches the whole process group),
    /// takes the executable's name in `ps`, maps the scoreboard and keeps the inherited
    /// descriptors from the programs it starts.
    /// - Throws: ``GatewayError`` `workerHandOver` when the hand-over does not hold.
    static func worker(_ handOver: WorkerHandOver, frontends: Int, logger: Logger) throws -> ServingProcess {
        _ = cgateway_set_parent_death_signal(SIGTERM)
        guard getppid() == handOver.supervisorPID else {
            // The supervisor died before the signal was armed.
            throw GatewayError(.workerHandOver, "The supervisor (pid \(handOver.supervisorPID)) is gone.")
        }
        // A handler that does nothing rather than SIG_IGN: programs the application starts get
        // the default back at exec, where an ignored signal would stay ignored.
        signal(SIGHUP, { _ in })
        signal(SIGINT, { _ in })
        nameProcess()
        let scoreboard = try Scoreboard.attach(descriptor: handOver.scoreboard)
        close(handOver.scoreboard)
        guard handOver.slot < scoreboard.slotCount else {
            throw GatewayError(.workerHandOver, "Scoreboard slot \(handOver.slot) does not exist.")
        }
        for fd in [handOver.http, handOver.fastCGI, handOver.channel].compactMap({ $0 }) {
            SystemCalls.setCloseOnExec(fd)
        }
        let slot = scoreboard.slot(handOver.slot)
        let stateWord = UnsafeMutableRawPointer(slot.atomic(ScoreboardLayout.Slot.state)).assumingMemoryBound(to: UInt64.self)
        guard cgateway_install_crash_notifier(handOver.channel, stateWord, WorkerState.crashed.rawValue) == 0 else {
            throw GatewayError(.startFailed, "Installing the crash handler failed: \(SystemCalls.describe(errno)).")
        }
        return ServingProcess(scoreboard: scoreboard, slot: slot, handOver: handOver, frontends: frontends, logger: logger)
    }

    /// Sets this process up to serve by itself (`--workers 0`), with a scoreboard of its own;
    /// `onReady` runs once every frontend accepts.
    /// - Throws: ``GatewayError`` `startFailed`.
    static func standalone(frontends: Int, logger: Logger, onReady: @escaping @Sendable () -> Void) throws -> ServingProcess {
        let scoreboard = try Scoreboard.create(slots: 1, supervised: false, configuredWorkers: 1)
        let slot = scoreboard.slot(0)
        slot.prepare(number: 1, generation: 0, maxRequests: 0, memoryLimitBytes: 0, now: SystemCalls.monotonicNanos())
        slot.store(ScoreboardLayout.Slot.pid, UInt64(getpid()))
        return ServingProcess(scoreboard: scoreboard, slot: slot, handOver: nil, frontends: frontends, logger: logger, onReady: onReady)
    }

    /// A frontend accepts connections; once all do, the process is ready (and its supervisor,
    /// woken, may stop the worker it replaces).
    func frontendListening() {
        guard frontendsStarting.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
        slot.store(ScoreboardLayout.Slot.readyAtMonotonicNanos, SystemCalls.monotonicNanos())
        _ = slot.atomic(ScoreboardLayout.Slot.state).pointee.compareExchange(
            expected: WorkerState.starting.rawValue,
            desired: WorkerState.ready.rawValue,
            ordering: .acquiringAndReleasing
        )
        Self.wake(handOver?.channel)
        onReady?()
    }

    /// Starts the monitor thread (every 100 ms: resident memory, the memory limit, the parent).
    /// - Throws: ``GatewayError`` `startFailed`.
    func startMonitor() throws {
        let memoryLimit = slot.load(ScoreboardLayout.Slot.memoryLimitBytes)
        let supervisor = handOver?.supervisorPID
        let slot = self.slot
        let tracker = self.tracker
        let logger = self.logger
        try PlainThread.start(name: "asgi-monitor") {
            var orphaned = false
            while true {
                usleep(100_000)
                if let resident = SystemCalls.residentBytes() {
                    slot.store(ScoreboardLayout.Slot.residentBytes, resident)
                    if memoryLimit > 0, resident > memoryLimit, slot.recycleReason == .none {
                        logger.info(
                            "Resident memory \(resident >> 20) MiB is past --worker-memory-limit \(memoryLimit >> 20) MiB: asking for a replacement."
                        )
                        tracker.requestRecycle(.memory)
                    }
                }
                if let supervisor, !orphaned, getppid() != supervisor {
                    orphaned = true
                    logger.warning("The supervisor (pid \(supervisor)) is gone: stopping.")
                    kill(getpid(), SIGTERM)
                }
            }
        }
    }

    /// Wakes the supervisor (a byte on the channel; never blocks, never raises SIGPIPE).
    private static func wake(_ channel: Int32?) {
        guard let channel else { return }
        var byte: UInt8 = 1
        _ = send(channel, &byte, 1, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
    }

    /// Names the process after the executable (argv[0]) rather than the descriptor it was
    /// spawned from (`/proc/self/fd/N`), so that `ps` and `top` show what runs.
    private static func nameProcess() {
        guard let first = CommandLine.arguments.first else { return }
        let name = Array((first.split(separator: "/").last.map(String.init) ?? first).utf8.prefix(15))
        let fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = name.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
