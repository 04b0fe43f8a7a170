import Synchronization

/// Where a `syncToAsync` body runs.
enum SyncTarget {
    /// The thread of an `asyncToSync` caller (its ``CurrentThreadExecutor``).
    case executor(CurrentThreadExecutor)
    /// A dedicated thread (the process's sensitive thread or a context's).
    case lane(SensitiveLane)
    /// The library's pool.
    case pool(BlockingThreadPool)
    /// A user's executor.
    case custom(any BlockingExecutor)

    /// The object whose thread a body running here occupies (for deadlock detection).
    var occupant: ObjectIdentifier? {
        switch self {
        case .executor(let executor): return ObjectIdentifier(executor)
        case .lane(let lane): return ObjectIdentifier(lane.thread)
        case .pool, .custom: return nil
        }
    }
}

/// Where a call goes: the target chosen for it, and what choosing again needs.
struct SyncRoute {
    var target: SyncTarget
    /// Whether the caller named the target (``CurrentThreadExecutor/submit(_:)``, an executor).
    let explicit: Bool
    let threadSensitive: Bool

    /// Routes a call from code with `state` to `target`, or where `threadSensitive` sends it.
    init(target: SyncTarget?, threadSensitive: Bool, state: BridgeState) throws {
        self.explicit = target != nil
        self.threadSensitive = threadSensitive
        self.target = try target ?? SyncRoute.route(threadSensitive: threadSensitive, state: state)
    }

    /// Where to go when `target` refused the call because it finished.
    func reroute(state: BridgeState) throws -> SyncTarget {
        if explicit, case .executor(let executor) = target {
            guard let next = executor.parent?.liveExecutor else { throw BridgeError.executorFinished }
            return .executor(next)
        }
        return try Self.route(threadSensitive: threadSensitive, state: state)
    }

    /// Chooses where a call from code with `state` runs.
    static func route(threadSensitive: Bool, state: BridgeState) throws -> SyncTarget {
        guard threadSensitive else { return .pool(.shared) }
        let target: SyncTarget
        if let executor = state.executor?.liveExecutor {
            target = .executor(executor)
        } else if let lane = state.sensitiveLane {
            target = .lane(lane)
        } else {
            target = .lane(.process)
        }
        if let occupied = state.occupying, occupied == target.occupant, state.call?.isRunning == true {
            throw BridgeError.wouldDeadlock
        }
        return target
    }
}

/// One `syncToAsync` call: the queued work item, the sync body's `Local` scope, and the
/// once-only hand-over of the result (or of the caller's cancellation) to the awaiting task.
///
/// One object carries all of it, so a call costs one allocation; the result travels in it too, so
/// the awaiting task's frames stay small (they come from its task allocator). ``PackedSyncCall``
/// stores a function and its arguments instead of a closure, for the `syncToAsync` wrapper.
class SyncCall<R: Sendable>: LocalStorage, WorkItem, SyncCallControl, @unchecked Sendable {
    private struct Control {
        var continuation: UnsafeContinuation<Void, Never>?
        var resumed = false
        var cancelled = false
        var running = false
        /// The operation tasks of `asyncToSync` calls made in the body, cancelled with the caller:
        /// the first inline (the usual case has at most one at a time), any others in `more`.
        var linked: (token: Int, task: Task<Void, Never>)?
        var more: [Int: Task<Void, Never>] = [:]
        var nextToken = 0
    }

    private let body: (@Sendable () throws -> R)?
    /// The caller's bridge state (its `locals` is the caller's scope).
    private let callerState: BridgeState
    /// The state the body runs with: the caller's, plus the thread it occupies.
    private var bodyState: BridgeState
    private var route: SyncRoute
    private let control = Mutex(Control())
    /// Written once, by whoever resumes the caller (before resuming it); read by the caller after.
    private var outcome: Result<R, any Error>?

    init(body: (@Sendable () throws -> R)?, callerState: BridgeState, route: SyncRoute) {
        self.body = body
        self.callerState = callerState
        self.bodyState = callerState
        self.route = route
        super.init(owner: .unclaimed, values: callerState.locals?.values ?? [:])
    }

    /// Runs the body (on the target thread).
    func invoke() throws -> R {
        try body!()
    }

    // MARK: Caller side

    /// Runs `body` on `target`, or where `threadSensitive` routes it, and returns its result.
    static func perform(
        on target: SyncTarget?,
        threadSensitive: Bool,
        _ body: @escaping @Sendable () throws -> R
    ) async throws -> R {
        let state = BridgeState.current
        let route = try SyncRoute(target: target, threadSensitive: threadSensitive, state: state)
        return try await SyncCall(body: body, callerState: state, route: route).perform()
    }

    /// Queues the call on its route, waits for the body (or the caller's cancellation) and returns
    /// the body's result to the caller.
    final func perform() async throws -> R {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                start(continuation)
            }
        } onCancel: {
            cancel()
        }
        return try finish()
    }

    /// Installs the caller's continuation and queues the call (or resumes the caller at once).
    private func start(_ continuation: UnsafeContinuation<Void, Never>) {
        guard install(continuation) else { return }
        while true {
            do {
                if try enqueue(on: route.target) { return }
                // The executor finished between routing and queuing: route again (an explicit
                // executor falls back along its own chain only).
                route.target = try route.reroute(state: callerState)
            } catch {
                resume(with: .failure(error))
                return
            }
        }
    }

    /// On the caller, once resumed: copies the body's `Local` changes to the caller's scope (not
    /// those of a cancelled call, whose body may still be running) and returns the outcome.
    private func finish() throws -> R {
        let outcome = self.outcome!
        // Changes made before the body threw still count, as in asgiref.
        let keepChanges: Bool
        if case .failure = outcome { keepChanges = !isCancelled } else { keepChanges = true }
        if keepChanges, let caller = callerState.locals, caller.isOwned(by: .current) {
            caller.merge(changes)
        }
        return try outcome.get()
    }

    private func install(_ continuation: UnsafeContinuation<Void, Never>) -> Bool {
        let cancelled = control.withLock { control -> Bool in
            if control.cancelled {
                control.resumed = true
                return true
            }
            control.continuation = continuation
            return false
        }
        if cancelled {
            outcome = .failure(CancellationError())
            continuation.resume()
        }
        return !cancelled
    }
    /// Queues the call; `false` if the target has finished.
    private func enqueue(on target: SyncTarget) throws -> Bool {
        // Written before the queue's lock publishes the item to the worker thread.
        bodyState.occupying = target.occupant
        switch target {
        case .executor(let executor):
            return executor.queue.push(.item(self)) == .queued
        case .lane(let lane):
            if lane.submit(self) { return true }
            // A context's lane closed: fall back to the process lane, which never closes.
            bodyState.occupying = ObjectIdentifier(SensitiveLane.process.thread)
            return SensitiveLane.process.submit(self)
        case .pool(let pool):
            try pool.submit(self)
            return true
        case .custom(let executor):
            try executor.execute { self.run() }
            return true
        }
    }

    /// Hands `result` to the caller unless it was resumed already (cancelled).
    private func resume(with result: Result<R, any Error>) {
        let continuation = control.withLock { control -> UnsafeContinuation<Void, Never>? in
            control.running = false
            guard !control.resumed else { return nil }
            control.resumed = true
            defer { control.continuation = nil }
            return control.continuation
        }
        guard let continuation else { return }
        outcome = result
        continuation.resume()
    }

    private func cancel() {
        let (continuation, tasks) = control.withLock { control in
            control.cancelled = true
            var tasks = Array(control.more.values)
            if let linked = control.linked { tasks.append(linked.task) }
            guard !control.resumed, let continuation = control.continuation else {
                return (nil as UnsafeContinuation<Void, Never>?, tasks)
            }
            control.resumed = true
            control.continuation = nil
            return (continuation, tasks)
        }
        for task in tasks { task.cancel() }
        if let continuation {
            outcome = .failure(CancellationError())
            continuation.resume()
        }
    }

    // MARK: Worker side

    /// Runs the body on the current (target) thread, unless the caller gave up before it started.
    func run() {
        let start = control.withLock { control -> Bool in
            guard !control.cancelled else { return false }
            control.running = true
            return true
        }
        guard start else {
            resume(with: .failure(CancellationError()))
            return
        }
        claim()
        var state = bodyState
        state.locals = self
        state.call = self
        let result = BridgeState.$current.withValue(state) {
            Result { try invoke() }
        }
        close()
        resume(with: result)
    }

    var isCancelled: Bool {
        control.withLock { $0.cancelled }
    }

    var isRunning: Bool {
        control.withLock { $0.running }
    }

    func cancelOnCancellation(_ task: Task<Void, Never>) -> Int? {
        let token = control.withLock { control -> Int? in
            guard !control.cancelled else { return nil }
            control.nextToken += 1
            if control.linked == nil {
                control.linked = (control.nextToken, task)
            } else {
                control.more[control.nextToken] = task
            }
            return control.nextToken
        }
        if token == nil { task.cancel() }
        return token
    }

    func removeCancellation(_ token: Int) {
        control.withLock { control in
            if control.linked?.token == token {
                control.linked = nil
            } else {
                control.more.removeValue(forKey: token)
            }
        }
    }
}

/// A `syncToAsync` call of a wrapped function: the function and its arguments live in the call
/// object itself, so the wrapper allocates no closure per call.
final class PackedSyncCall<each A: Sendable, R: Sendable>: SyncCall<R>, @unchecked Sendable {
    private let function: @Sendable (repeat each A) throws -> R
    private let arguments: (repeat each A)

    init(
        function: @escaping @Sendable (repeat each A) throws -> R,
        arguments: repeat each A,
        callerState: BridgeState,
        route: SyncRoute
    ) {
        self.function = function
        self.arguments = (repeat each arguments)
        super.init(body: nil, callerState: callerState, route: route)
    }

    override func invoke() throws -> R {
        try function(repeat each arguments)
    }
}
