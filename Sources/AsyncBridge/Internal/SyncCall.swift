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

/// One `syncToAsync` call: the queued work item, the sync body's `Local` scope, and the
/// once-only hand-over of the result (or of the caller's cancellation) to the awaiting task.
final class SyncCall<R: Sendable>: LocalStorage, WorkItem, SyncCallControl, @unchecked Sendable {
    private struct Control {
        var continuation: UnsafeContinuation<R, any Error>?
        var resumed = false
        var cancelled = false
        var running = false
        var handlers: [Int: @Sendable () -> Void] = [:]
        var nextToken = 0
    }

    private let body: @Sendable () throws -> R
    private var bodyState: BridgeState
    private let control = Mutex(Control())

    init(body: @escaping @Sendable () throws -> R, callerState: BridgeState) {
        self.body = body
        self.bodyState = callerState
        super.init(owner: .unclaimed, values: callerState.locals?.values ?? [:])
    }

    // MARK: Caller side

    /// Runs `body` on the target the arguments select and returns its result to the caller.
    static func perform(
        on target: SyncTarget?,
        threadSensitive: Bool,
        _ body: @escaping @Sendable () throws -> R
    ) async throws -> R {
        let state = BridgeState.current
        let explicit = target != nil
        var target = try target ?? Self.route(threadSensitive: threadSensitive, state: state)
        let call = SyncCall(body: body, callerState: state)
        let result: R
        do {
            result = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                guard call.install(continuation) else { return }
                while true {
                    do {
                        if try call.enqueue(on: target) { return }
                        // The executor finished between routing and queuing: route again (an
                        // explicit executor falls back along its own chain only).
                        target = try Self.reroute(from: target, explicit: explicit, threadSensitive: threadSensitive, state: state)
                    } catch {
                        call.resume(with: .failure(error))
                        return
                    }
                }
            }
            } onCancel: {
                call.cancel()
            }
        } catch {
            // Changes made before the body threw still count, as in asgiref; a cancelled call's
            // body may still be running, so its changes are dropped.
            if !call.isCancelled, let caller = state.locals, caller.isOwned(by: .current) {
                caller.merge(call.changes)
            }
            throw error
        }
        if let caller = state.locals, caller.isOwned(by: .current) {
            caller.merge(call.changes)
        }
        return result
    }

    /// Where to go when `target` refused the call because it finished.
    private static func reroute(from target: SyncTarget, explicit: Bool, threadSensitive: Bool, state: BridgeState) throws -> SyncTarget {
        if explicit, case .executor(let executor) = target {
            guard let next = executor.parent?.liveExecutor else { throw BridgeError.executorFinished }
            return .executor(next)
        }
        return try route(threadSensitive: threadSensitive, state: state)
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

    private func install(_ continuation: UnsafeContinuation<R, any Error>) -> Bool {
        let cancelled = control.withLock { control -> Bool in
            if control.cancelled {
                control.resumed = true
                return true
            }
            control.continuation = continuation
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
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

    private func resume(with result: Result<R, any Error>) {
        let continuation = control.withLock { control -> UnsafeContinuation<R, any Error>? in
            control.running = false
            guard !control.resumed else { return nil }
            control.resumed = true
            defer { control.continuation = nil }
            return control.continuation
        }
        continuation?.resume(with: result)
    }

    private func cancel() {
        let (continuation, handlers) = control.withLock { control in
            control.cancelled = true
            let handlers = Array(control.handlers.values)
            guard !control.resumed, let continuation = control.continuation else {
                return (nil as UnsafeContinuation<R, any Error>?, handlers)
            }
            control.resumed = true
            control.continuation = nil
            return (continuation, handlers)
        }
        for handler in handlers { handler() }
        continuation?.resume(throwing: CancellationError())
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
            Result { try body() }
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

    func onCancel(_ action: @escaping @Sendable () -> Void) -> Int {
        let token = control.withLock { control -> Int? in
            guard !control.cancelled else { return nil }
            control.nextToken += 1
            control.handlers[control.nextToken] = action
            return control.nextToken
        }
        guard let token else {
            action()
            return -1
        }
        return token
    }

    func removeCancelHandler(_ token: Int) {
        _ = control.withLock { $0.handlers.removeValue(forKey: token) }
    }
}
