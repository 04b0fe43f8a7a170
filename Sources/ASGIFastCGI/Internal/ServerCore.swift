@_spi(ASGIFrontend) import ASGI
import CFastCGI
import Glibc
import Logging
import ServiceLifecycle
import Synchronization

/// The running part of a ``FastCGIServer``: listener, worker threads, watchdog, counters.
final class ServerCore: Sendable {
    /// What the workers serve.
    enum Application: Sendable {
        case wsgi(any WSGIApplication, WSGILifespan)
        case asgi(any ASGIApplication)
    }

    /// The request a worker serves now, for the watchdog.
    final class Slot: Sendable {
        let current = Mutex<FastCGIRequest?>(nil)
    }

    private enum Phase {
        case idle, running, stopping, stopped
    }

    private struct Lifecycle {
        var phase = Phase.idle
        var listener: Listener?
        var liveWorkers = 0
        var workersDone = false
        var waiter: CheckedContinuation<Void, Never>?
        var startNanos: UInt64 = 0
        /// When in-flight requests get cut (graceful shutdown deadline).
        var abortDeadline: UInt64?
        var abortedInFlight = false
        /// When the server returns even if a handler never does.
        var giveUpDeadline: UInt64?
        var watchdogStopped = false
    }

    let application: Application
    /// What a worker calls for each request: the WSGI-style application, or the ASGI one through
    /// `ASGIToWSGI` (the worker thread its sync parent).
    let servedApplication: any WSGIApplication
    let configuration: FastCGIConfiguration
    let logger: Logger
    let counters = ServerCounters()
    let slots: [Slot]
    /// Called once the worker threads accept connections.
    let onListening: (@Sendable () -> Void)?
    private let lifecycle = Mutex(Lifecycle())
    private let lifespan = Mutex<LifespanState?>(nil)

    init(application: Application, configuration: FastCGIConfiguration, logger: Logger, onListening: (@Sendable () -> Void)? = nil) {
        self.application = application
        switch application {
        case .wsgi(let wsgi, _): servedApplication = wsgi
        case .asgi(let asgi): servedApplication = ASGIToWSGI(asgi)
        }
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
        self.slots = (0..<max(1, configuration.workerThreads)).map { _ in Slot() }
    }

    /// The lifespan state copied into request scopes (`nil`: no lifespan, or unsupported).
    var lifespanState: LifespanState? { lifespan.withLock { $0 } }

    // MARK: Running

    /// Runs the application's lifespan (startup before the first accept, shutdown after the last
    /// request) around serving.
    func run() async throws {
        try lifecycle.withLock { state in
            guard state.phase == .idle else {
                throw FastCGIError(.alreadyRunning, "This FastCGI server is running or has run; create a new one.")
            }
            state.phase = .running
        }
        let lifespanApplication: (any ASGIApplication)?
        switch (configuration.lifespan, application) {
        case (.off, _): lifespanApplication = nil
        case (_, .asgi(let asgi)): lifespanApplication = asgi
        case (_, .wsgi(_, let hooks)): lifespanApplication = hooks.startup == nil && hooks.shutdown == nil ? nil : hooks.application(logger: logger)
        }
        guard let lifespanApplication else {
            try await serve()
            return
        }
        let runner = LifespanRunner(application: lifespanApplication, mode: configuration.lifespan == .on ? .on : .auto, logger: logger)
        do {
            try await runner.around {
                self.lifespan.withLock { $0 = runner.requestState }
                try await self.serve()
            }
        } catch let failure as LifespanRunner.Failure {
            lifecycle.withLock { $0.phase = .stopped }
            switch failure {
            case .startupFailed(let message):
                throw FastCGIError(.lifespanStartupFailed, "Application startup failed: \(message)")
            case .lifespanFailed(let message):
                throw FastCGIError(.lifespanFailed, message)
            }
        }
    }

    private func serve() async throws {
        let listener: Listener
        do {
            try configuration.validate()
            try LibFCGI.initialize()
            listener = try Listener(
                bind: configuration.bind,
                backlog: configuration.backlog,
                allowedClients: configuration.allowedClients,
                readTimeout: configuration.readTimeout,
                socketGroup: configuration.socketGroup,
                logger: logger
            )
        } catch {
            lifecycle.withLock { $0.phase = .stopped }
            throw error
        }
        lifecycle.withLock { state in
            state.listener = listener
            state.startNanos = Posix.monotonicNanos()
        }
        do {
            try startThreads(listener: listener)
        } catch {
            stop(graceful: false)
            await waitForWorkers()
            lifecycle.withLock { $0.watchdogStopped = true }
            listener.close()
            throw error
        }
        logger.info("FastCGI server listening on \(listener.description) with \(configuration.workerThreads) worker threads.")
        onListening?()

        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await waitForWorkers()
            } onGracefulShutdown: {
                self.stop(graceful: true)
            }
        } onCancel: {
            self.stop(graceful: false)
        }

        let allExited = lifecycle.withLock { state -> Bool in
            state.phase = .stopped
            state.watchdogStopped = true
            return state.liveWorkers == 0
        }
        // A worker stuck in a handler never touches the listener again (it sees the stop first),
        // so closing it is safe either way.
        listener.close()
        if let failure = listener.failure {
            throw FastCGIError(.acceptFailed, failure)
        }
        logger.info("FastCGI server stopped\(allExited ? "" : " (some handlers had not returned)").")
    }

    private func startThreads(listener: Listener) throws {
        let total = slots.count
        for index in 0..<total {
            let worker = Worker(index: index, core: self, listener: listener)
            lifecycle.withLock { $0.liveWorkers += 1 }
            do {
                try PlainThread.start(name: "fcgi-worker-\(index)") { worker.run() }
            } catch {
                workerExited()
                throw error
            }
        }
        try PlainThread.start(name: "fcgi-watchdog") { [self] in watchdogLoop(listener: listener) }
    }

    private func waitForWorkers() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = lifecycle.withLock { state -> Bool in
                if state.workersDone { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Called by each worker thread as it ends.
    func workerExited() {
        let waiter = lifecycle.withLock { state -> CheckedContinuation<Void, Never>? in
            state.liveWorkers -= 1
            guard state.liveWorkers == 0 else { return nil }
            state.workersDone = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Stops accepting; in-flight requests get the grace period (none when not graceful).
    func stop(graceful: Bool) {
        let now = Posix.monotonicNanos()
        let (listener, inFlight) = lifecycle.withLock { state -> (Listener?, Bool) in
            guard state.phase == .running else { return (nil, false) }
            state.phase = .stopping
            let grace = graceful ? Posix.nanos(configuration.gracefulShutdownTimeout) : 0
            state.abortDeadline = now + grace
            return (state.listener, true)
        }
        guard inFlight, let listener else { return }
        let active = counters.activeWorkers.load(ordering: .relaxed)
        if graceful {
            logger.info(
                "FastCGI server stopping: no new connections; \(active) request(s) in flight get up to \(configuration.gracefulShutdownTimeout)."
            )
        } else {
            logger.info("FastCGI server cancelled: cutting \(active) request(s) in flight.")
        }
        listener.stop(drainQueued: graceful)
        if !graceful { abortInFlight(now: now) }
    }

    /// Cuts every request in flight; the server returns one second later at the latest.
    private func abortInFlight(now: UInt64) {
        let first = lifecycle.withLock { state -> Bool in
            guard !state.abortedInFlight else { return false }
            state.abortedInFlight = true
            state.giveUpDeadline = now + 1_000_000_000
            return true
        }
        guard first else { return }
        for slot in slots {
            if let request = slot.current.withLock({ $0 }) {
                logger.warning(
                    "Cutting request in flight at shutdown: \(request.head.scope.method) \(request.head.requestURI) (worker \(request.workerIndex))."
                )
                request.abort()
            }
        }
    }

    // MARK: Watchdog

    /// Every 100 ms: slow-request log, request timeouts, hang-ups of requests waiting for
    /// `http.disconnect`, the shutdown deadlines, and a listen-queue sample.
    private func watchdogLoop(listener: Listener) {
        let slowNanos = configuration.slowRequestThreshold.map(Posix.nanos)
        let timeoutNanos = configuration.requestTimeout.map(Posix.nanos)
        var ticks = 0
        while true {
            Posix.pause(milliseconds: 100)
            let (stopped, abortDeadline, giveUpDeadline) = lifecycle.withLock { ($0.watchdogStopped, $0.abortDeadline, $0.giveUpDeadline) }
            if stopped { return }
            let now = Posix.monotonicNanos()
            for slot in slots {
                guard let request = slot.current.withLock({ $0 }) else { continue }
                let elapsed = now &- request.startNanos
                if let slowNanos, elapsed >= slowNanos, request.markSlowLogged() {
                    counters.slowRequests.add(1, ordering: .relaxed)
                    logger.warning(
                        "Slow request: \(request.head.scope.method) \(request.head.requestURI) has run for \(FastCGIRequest.format(Double(elapsed) / 1e9)) s (worker \(request.workerIndex))."
                    )
                }
                if let timeoutNanos, elapsed >= timeoutNanos, !request.isTimedOut, !request.isAborted {
                    counters.timedOutRequests.add(1, ordering: .relaxed)
                    let seconds = Double(timeoutNanos) / 1e9
                    let answered = request.timeOut(after: seconds)
                    logger.error(
                        "Request timed out after \(FastCGIRequest.format(seconds)) s: \(request.head.scope.method) \(request.head.requestURI) (worker \(request.workerIndex)); \(answered ? "answered 504" : "connection cut"); the worker is free once the handler returns."
                    )
                }
                request.pollHangUp()
            }
            if let abortDeadline, now >= abortDeadline { abortInFlight(now: now) }
            if let giveUpDeadline, now >= giveUpDeadline {
                let waiter = lifecycle.withLock { state -> CheckedContinuation<Void, Never>? in
                    guard !state.workersDone else { return nil }
                    state.workersDone = true
                    defer { state.waiter = nil }
                    return state.waiter
                }
                if let waiter {
                    logger.error(
                        "FastCGI server returning with \(counters.activeWorkers.load(ordering: .relaxed)) handler(s) still running after the shutdown deadline."
                    )
                    waiter.resume()
                }
            }
            ticks += 1
            if ticks % 10 == 0 { counters.observeListenQueue(listener.queueDepth()) }
        }
    }

    // MARK: Status

    /// A snapshot of the counters.
    func status() -> FastCGIStatus {
        let (listener, startNanos) = lifecycle.withLock { ($0.listener, $0.startNanos) }
        let queue = listener?.queueDepth()
        counters.observeListenQueue(queue)
        let active = counters.activeWorkers.load(ordering: .relaxed)
        return FastCGIStatus(
            address: configuration.bind.description,
            uptimeSeconds: startNanos == 0 ? 0 : Int((Posix.monotonicNanos() - startNanos) / 1_000_000_000),
            acceptedRequests: counters.acceptedRequests.load(ordering: .relaxed),
            acceptedConnections: counters.acceptedConnections.load(ordering: .relaxed),
            listenQueue: queue,
            maxListenQueue: counters.maxListenQueue.load(ordering: .relaxed),
            listenQueueLength: configuration.backlog,
            activeWorkers: active,
            idleWorkers: max(0, slots.count - active),
            keptConnections: listener?.idleKeptConnections ?? 0,
            totalWorkers: slots.count,
            maxActiveWorkers: counters.maxActiveWorkers.load(ordering: .relaxed),
            maxActiveReached: counters.maxActiveReached.load(ordering: .relaxed),
            slowRequests: counters.slowRequests.load(ordering: .relaxed),
            timedOutRequests: counters.timedOutRequests.load(ordering: .relaxed),
            abortedRequests: counters.abortedRequests.load(ordering: .relaxed),
            rejectedRequests: counters.rejectedRequests.load(ordering: .relaxed)
        )
    }
}
