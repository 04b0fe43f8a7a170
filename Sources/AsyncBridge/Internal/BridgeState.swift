/// Everything the bridge carries with a logical request across threads and tasks.
///
/// One task-local holds it all (Swift cannot enumerate task-locals, so per-feature task-locals
/// could not be carried across a thread hop together). Sync code on bridge threads sees it through
/// a sync `withValue` binding; tasks and child tasks inherit it.
struct BridgeState: Sendable {
    /// The innermost `asyncToSync` whose thread serves thread-sensitive calls (may have finished;
    /// ``CurrentThreadExecutor/liveExecutor`` walks to a live one).
    var executor: CurrentThreadExecutor?
    /// The lane (dedicated thread) of the outermost ``ThreadSensitiveContext``.
    var sensitiveLane: SensitiveLane?
    /// The executor thread of the outermost ``AsyncSingleThreadContext``.
    var singleThread: WorkerThread?
    /// The `Local` values of the current scope.
    var locals: LocalStorage?
    /// The `syncToAsync` call whose sync body encloses this code (for cancellation checks).
    var call: (any SyncCallControl)?
    /// Set while a sync body runs and no `asyncToSync` lies between it and this code: the object
    /// (thread or executor) whose thread that body occupies. A thread-sensitive call routed there
    /// from here could only run after the body returns, which the body may be waiting for.
    var occupying: ObjectIdentifier?

    @TaskLocal static var current = BridgeState()
}

/// What sync code can ask of the `syncToAsync` call it runs in.
protocol SyncCallControl: AnyObject, Sendable {
    /// Whether the awaiting caller was cancelled.
    var isCancelled: Bool { get }
    /// Whether the sync body is still running.
    var isRunning: Bool { get }
    /// Cancels `task` when the caller is cancelled (at once, returning `nil`, if it already was);
    /// returns a token for ``removeCancellation(_:)``.
    func cancelOnCancellation(_ task: Task<Void, Never>) -> Int?
    /// Stops cancelling the task registered under `token`.
    func removeCancellation(_ token: Int)
}
