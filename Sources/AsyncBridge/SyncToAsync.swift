/// Runs blocking code from async code, on a thread the library owns.
///
/// The body never runs on Swift's cooperative pool (unless a custom ``BlockingExecutor`` you pass
/// runs work inline). Where it runs:
/// - `threadSensitive: true` (the default): on the thread of the innermost ``asyncToSync(_:)``
///   above the caller (which serves it through its ``CurrentThreadExecutor``), else on the thread of
///   the current ``ThreadSensitiveContext``, else on one process-wide sensitive thread. So blocking
///   code bound to a thread (a SQLite handle, thread-local state) always meets the same thread.
/// - `threadSensitive: false`: on `executor`, or on ``BlockingThreadPool/shared``; when the call is
///   nested below an ``asyncToSync(_:)`` that blocks a thread of that pool and no pool thread is
///   idle, on that blocked thread (see ``BlockingThreadPool``), so nested calls cannot starve the pool.
///
/// Errors thrown by the body reach the caller unchanged. A cancelled caller gets `CancellationError`
/// at once; a body already running keeps running (it can check ``isCancelled``) and its result is
/// dropped, while a body that has not started yet is skipped.
///
/// A thread-sensitive call made from a task that sync code started (without `asyncToSync`) while
/// that sync code still runs on the call's target thread throws ``BridgeError/wouldDeadlock``,
/// whether or not the sync code waits for the task: it could only run once that code returns.
///
/// ```swift
/// let user = try await SyncToAsync.run { try legacyStore.user(id: 42) }
/// ```
public enum SyncToAsync {
    /// Runs `body` on a blocking-safe thread and returns its result.
    ///
    /// - Parameters:
    ///   - threadSensitive: run where thread-bound code expects to run (see ``SyncToAsync``).
    ///   - executor: where to run a non-thread-sensitive body; `nil` for the shared pool.
    ///   - body: the blocking code.
    /// - Throws: what `body` throws; `CancellationError` if the caller is cancelled;
    ///   ``BridgeError/executorWithThreadSensitive`` if `executor` is given with
    ///   `threadSensitive: true`; ``BridgeError/wouldDeadlock`` if the thread-sensitive target is
    ///   the thread this caller's own chain occupies; ``BridgeError/queueFull`` from a full pool.
    public static func run<R: Sendable>(
        threadSensitive: Bool = true,
        executor: (any BlockingExecutor)? = nil,
        _ body: @escaping @Sendable () throws -> R
    ) async throws -> R {
        let (state, route) = try prepare(threadSensitive: threadSensitive, executor: executor)
        return try await SyncCall(body: body, callerState: state, route: route).perform()
    }

    /// Checks the arguments and the caller's cancellation, and routes a call from the calling code
    /// (synchronous, so the awaiting task keeps one small frame).
    static func prepare(threadSensitive: Bool, executor: (any BlockingExecutor)?) throws -> (BridgeState, SyncRoute) {
        var target: SyncTarget? = nil
        if let executor {
            guard !threadSensitive else { throw BridgeError.executorWithThreadSensitive }
            if let pool = executor as? BlockingThreadPool {
                target = .pool(pool)
            } else {
                target = .custom(executor)
            }
        }
        if Task.isCancelled { throw CancellationError() }
        let state = BridgeState.current
        return (state, try SyncRoute(target: target, threadSensitive: threadSensitive, state: state))
    }

    /// Inside a sync body run by the bridge: whether the awaiting caller has been cancelled.
    ///
    /// Long-running blocking code can poll it and stop early; its result is dropped anyway.
    /// `false` outside a bridged body. In async code started from a bridged body (an `asyncToSync`
    /// inside it) it reports that body's caller; async code should check `Task.isCancelled`.
    public static var isCancelled: Bool {
        BridgeState.current.call?.isCancelled ?? false
    }

    /// Inside a sync body run by the bridge: throws `CancellationError` if the awaiting caller has
    /// been cancelled.
    public static func checkCancellation() throws {
        if isCancelled { throw CancellationError() }
    }
}

/// Wraps a blocking function as an async one that runs it through ``SyncToAsync/run(threadSensitive:executor:_:)``.
///
/// Build the wrapper once and call it many times:
///
/// ```swift
/// let loadUser = syncToAsync { (id: Int) in try legacyStore.user(id: id) }
/// let user = try await loadUser(42)
/// ```
///
/// An `executor` given together with `threadSensitive: true` makes every call throw
/// ``BridgeError/executorWithThreadSensitive``.
public func syncToAsync<each A: Sendable, R: Sendable>(
    threadSensitive: Bool = true,
    executor: (any BlockingExecutor)? = nil,
    _ function: @escaping @Sendable (repeat each A) throws -> R
) -> @Sendable (repeat each A) async throws -> R {
    { (arguments: repeat each A) in
        // The call object holds the function and the arguments: no closure per call.
        let (state, route) = try SyncToAsync.prepare(threadSensitive: threadSensitive, executor: executor)
        return try await PackedSyncCall(function: function, arguments: repeat each arguments, callerState: state, route: route)
            .perform()
    }
}
