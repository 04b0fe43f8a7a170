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

    /// Whether `other` is this very executor or lane.
    func isSame(as other: SyncTarget) -> Bool {
        switch (self, other) {
        case (.executor(let a), .executor(let b)): return a === b
        case (.lane(let a), .lane(let b)): return a === b
        default: return false
        }
    }

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

    /// Routes a non-thread-sensitive call to the thread that waits for its caller (a
    /// ``WaitingThread``'s executor); should that executor refuse it, the call goes where
    /// routing sends it (the shared pool).
    init(waitingThread executor: CurrentThreadExecutor) {
        self.target = .executor(executor)
        self.explicit = false
        self.threadSensitive = false
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
/// One object carries all of it, so a call costs one allocation. Everything that does not depend on
/// the result type lives here, in non-generic code: the library is not specialised for its callers'
/// types, and generic code would look up the metadata of every generic type it touches on each
/// call. ``SyncCall`` adds the body and its value; ``PackedSyncCall`` a function and its arguments.
class SyncCallBase: LocalStorage, WorkItem, SyncCallControl, @unchecked Sendable {
    // Mutable state is `@exclusivity(unchecked)`: the caller writes it before queuing the call and
    // reads it after being resumed, the target thread in between, so the dynamic checks buy nothing.
    /// The caller's bridge state (its `locals` is the caller's scope).
    final let callerState: BridgeState
    /// The state the body runs with: the caller's, plus the thread it occupies.
    @exclusivity(unchecked)
    private final var bodyState: BridgeState
    @exclusivity(unchecked)
    private final var route: SyncRoute
    private final let control = Mutex(SyncCallState())
    /// The error for the caller, written once by whoever resumes it (before resuming it) when the
    /// call failed; `nil` once resumed means the body's value is ready.
    @exclusivity(unchecked)
    final var failure: (any Error)?
    /// Set (releasing) once `failure` and the body's value are written, read (acquiring) by the
    /// caller before it reads them. The continuation's resumption already orders them, inside the
    /// concurrency runtime; this makes the order explicit, also to the thread sanitizer.
    private final let published = Atomic<Bool>(false)

    init(callerState: BridgeState, route: SyncRoute) {
        self.callerState = callerState
        self.bodyState = callerState
        self.route = route
        super.init(owner: .unclaimed, values: callerState.locals?.values ?? [:])
    }

    /// Runs the body and keeps its value for the caller (on the target thread). Subclasses override.
    func runBody() throws {
        preconditionFailure("SyncCallBase.runBody() must be overridden")
    }

    // MARK: Caller side

    /// Queues the call on its route and waits until the body has run (or the caller was cancelled);
    /// then copies the body's `Local` changes to the caller's scope (not those of a cancelled call,
    /// whose body may still be running). Throws the call's error, if any.
    final func performAndWait() async throws {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                start(continuation)
            }
        } onCancel: {
            cancel()
        }
        // Changes made before the body threw still count, as in asgiref.
        _ = published.load(ordering: .acquiring)
        let failure = self.failure
        if failure == nil || !isCancelled, let caller = callerState.locals, caller.isOwned(by: .current) {
            caller.merge(changes)
        }
        if let failure { throw failure }
    }

    /// Installs the caller's continuation and queues the call (or resumes the caller at once).
    private final func start(_ continuation: UnsafeContinuation<Void, Never>) {
        guard install(continuation) else { return }
        do {
            try enqueueOnRoute()
        } catch {
            resume(failure: error)
        }
    }

    /// Queues the call on its route, routing again when the target has finished.
    ///
    /// This runs on the caller's (cooperative) thread, so it must never wait or spin: a target
    /// refuses work only once it accepts none for good (an executor whose operation has returned is
    /// not live, so routing does not pick it again), and each retry therefore moves one step up the
    /// chain of executors, then to a lane that never closes.
    private final func enqueueOnRoute() throws {
        while true {
            if try enqueue(on: route.target) { return }
            // The executor finished between routing and queuing: route again (an explicit executor
            // falls back along its own chain only).
            let refused = route.target
            route.target = try route.reroute(state: callerState)
            if route.target.isSame(as: refused) {
                // Routing chose the target that has just refused: retrying could only spin.
                throw BridgeError.executorFinished
            }
        }
    }

    private final func install(_ continuation: UnsafeContinuation<Void, Never>) -> Bool {
        let cancelled = control.withLock { control -> Bool in
            if control.cancelled {
                control.resumed = true
                return true
            }
            control.continuation = continuation
            return false
        }
        if cancelled {
            failure = CancellationError()
            published.store(true, ordering: .releasing)
            continuation.resume()
        }
        return !cancelled
    }
    /// Queues the call; `false` if the target has finished.
    private final func enqueue(on target: SyncTarget) throws -> Bool {
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
            if let waiting = waitingExecutor(on: pool) {
                // The caller's chain blocks one of this pool's threads: queue the call on the pool
                // only if a thread that is idle now takes it, else run it on the blocked thread,
                // which waits for exactly this kind of work. Otherwise, with every thread blocked
                // like this one (sync → async → sync, nested in each), the pool would deadlock.
                if try pool.submitToIdleThread(self) { return true }
                bodyState.occupying = ObjectIdentifier(waiting)
                if waiting.queue.push(.item(self)) == .queued { return true }
                bodyState.occupying = nil
            }
            try pool.submit(self)
            return true
        case .custom(let executor):
            try executor.execute { self.run() }
            return true
        }
    }

    /// The live executor of the caller's chain, when its thread is one of `pool`'s: that thread
    /// waits for the caller's work and can run this call instead of waiting for another pool thread.
    private final func waitingExecutor(on pool: BlockingThreadPool) -> CurrentThreadExecutor? {
        guard let executor = callerState.executor?.liveExecutor,
            let host = executor.hostPool,
            host == Unmanaged.passUnretained(pool.queue).toOpaque()
        else { return nil }
        return executor
    }

    /// Resumes the caller, with `failure` (`nil`: the body's value is ready), unless it was resumed
    /// already (cancelled); a started call reports to ``completed(failure:)`` instead, every time.
    private final func resume(failure: (any Error)?) {
        let (continuation, started) = control.withLock { control -> (UnsafeContinuation<Void, Never>?, Bool) in
            control.running = false
            if control.started {
                control.resumed = true
                return (nil, true)
            }
            guard !control.resumed else { return (nil, false) }
            control.resumed = true
            defer { control.continuation = nil }
            return (control.continuation, false)
        }
        guard started || continuation != nil else { return }
        self.failure = failure
        published.store(true, ordering: .releasing)
        if let continuation {
            continuation.resume()
        } else {
            completed(failure: failure)
        }
    }

    // MARK: Started calls (no awaiting caller)

    /// Queues the call without suspending the caller; ``completed(failure:)`` reports its end, on
    /// the thread that ran it (or skipped it because the call was cancelled first).
    ///
    /// For callers that wait for the body's end through a channel of their own, so one wake-up
    /// carries both the body's output and its end.
    /// - Throws: ``BridgeError/queueFull`` and the routing errors, before anything was queued.
    final func startWithoutWaiting() throws {
        control.withLock { $0.started = true }
        try enqueueOnRoute()
    }

    /// Whether the call was queued on `executor` (read by the caller, after queuing it).
    final func isQueued(on executor: CurrentThreadExecutor) -> Bool {
        if case .executor(let target) = route.target { return target === executor }
        return false
    }

    /// The end of a call queued with ``startWithoutWaiting()``: `failure` is `nil` when the body ran,
    /// `CancellationError` when it was skipped. Subclasses override.
    func completed(failure: (any Error)?) {}

    /// For a call queued with ``startWithoutWaiting()``, on the caller's task once
    /// ``completed(failure:)`` has run: copies the body's `Local` changes to the caller's scope, as
    /// an awaited call does.
    final func mergeChangesIntoCaller() {
        _ = published.load(ordering: .acquiring)
        if failure == nil, let caller = callerState.locals, caller.isOwned(by: .current) {
            caller.merge(changes)
        }
    }

    /// Cancels the call: the body sees ``SyncToAsync/isCancelled``, a body not yet started is
    /// skipped, and `asyncToSync` calls inside it are cancelled.
    final func cancel() {
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
            failure = CancellationError()
            published.store(true, ordering: .releasing)
            continuation.resume()
        }
    }

    // MARK: Worker side

    /// Runs the body on the current (target) thread, unless the caller gave up before it started.
    final func run() {
        let start = control.withLock { control -> Bool in
            guard !control.cancelled else { return false }
            control.running = true
            return true
        }
        guard start else {
            resume(failure: CancellationError())
            return
        }
        claim()
        var state = bodyState
        state.locals = self
        state.call = self
        let failure = BridgeState.$current.withValue(state) { () -> (any Error)? in
            do {
                try runBody()
                return nil
            } catch {
                return error
            }
        }
        close()
        resume(failure: failure)
    }

    final var isCancelled: Bool {
        control.withLock { $0.cancelled }
    }

    final var isRunning: Bool {
        control.withLock { $0.running }
    }

    final func cancelOnCancellation(_ task: Task<Void, Never>) -> Int? {
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

    final func removeCancellation(_ token: Int) {
        control.withLock { control in
            if control.linked?.token == token {
                control.linked = nil
            } else {
                control.more.removeValue(forKey: token)
            }
        }
    }
}

/// The hand-over state of a ``SyncCallBase``, guarded by its mutex.
struct SyncCallState {
    var continuation: UnsafeContinuation<Void, Never>?
    var resumed = false
    /// Queued by ``SyncCallBase/startWithoutWaiting()``: nobody awaits it, ``SyncCallBase/completed(failure:)`` reports.
    var started = false
    var cancelled = false
    var running = false
    /// The operation tasks of `asyncToSync` calls made in the body, cancelled with the caller:
    /// the first inline (the usual case has at most one at a time), any others in `more`.
    var linked: (token: Int, task: Task<Void, Never>)?
    var more: [Int: Task<Void, Never>] = [:]
    var nextToken = 0
}

/// A `syncToAsync` call of a closure: the body and, once it has run, its value.
class SyncCall<R: Sendable>: SyncCallBase, @unchecked Sendable {
    private let body: (@Sendable () throws -> R)?
    /// The body's value; written on the target thread before the caller is resumed, taken by it after.
    @exclusivity(unchecked)
    private var value: R?

    init(body: (@Sendable () throws -> R)?, callerState: BridgeState, route: SyncRoute) {
        self.body = body
        super.init(callerState: callerState, route: route)
    }

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
        try await performAndWait()
        return value.take()!
    }

    /// Runs the body (on the target thread).
    func invoke() throws -> R {
        try body!()
    }

    final override func runBody() throws {
        value = try invoke()
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
