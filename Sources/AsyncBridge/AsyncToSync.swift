/// Runs async code from blocking code, keeping the calling thread at work while it waits.
///
/// The calling thread does not sleep idly: it becomes the executor of the async body (through a
/// ``CurrentThreadExecutor``), so the body's jobs, and every thread-sensitive
/// ``SyncToAsync/run(threadSensitive:executor:_:)`` made below it, run right here. Chains like
/// `sync → async → sync → async` therefore all come back to this thread, and a call from a plain
/// thread makes no thread hop at all. Inside an ``AsyncSingleThreadContext`` the body runs on the
/// context's dedicated thread instead, while this thread still serves thread-sensitive calls.
///
/// Calling it from async code is a compile error (`noasync`); calling it indirectly from a task or a
/// cooperative-pool thread throws ``BridgeError/asyncToSyncInAsyncContext`` instead of risking a
/// deadlock of the pool. Errors from the body arrive unchanged. If the code that called this runs in
/// a ``SyncToAsync`` body whose caller is cancelled, the body's task is cancelled too.
///
/// ```swift
/// // In a blocking handler on a FastCGI worker thread:
/// let profile = try AsyncToSync.run { try await profileService.load(userID) }
/// ```
public enum AsyncToSync {
    /// Runs `body` to completion and returns its result.
    /// - Throws: what `body` throws, or ``BridgeError/asyncToSyncInAsyncContext``.
    @available(*, noasync, message: "asyncToSync blocks the calling thread; just await the async function directly")
    public static func run<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) throws -> R {
        guard !isInsideTask() else { throw BridgeError.asyncToSyncInAsyncContext }
        let outer = BridgeState.current
        // Sequential calls on a thread reuse one executor (see ExecutorCache).
        var executor =
            ExecutorCache.take(parent: outer.executor)
            ?? CurrentThreadExecutor(parent: outer.executor, reusable: true)
        defer { ExecutorCache.recycle(&executor) }
        return try run(serving: executor, outer: outer, body)
    }

    /// Runs `body` with `executor` (made on this thread) serving the calling thread, which runs
    /// synchronous code (not a task) with bridge state `outer`.
    static func run<R: Sendable>(
        serving executor: CurrentThreadExecutor,
        outer: BridgeState,
        _ body: @escaping @Sendable () async throws -> R
    ) throws -> R {
        guard executor.markStarted() else { throw BridgeError.executorFinished }
        // LocalStorage.current, knowing this is synchronous code.
        let callerLocals = outer.locals ?? LocalStorage.threadScope
        var bodyLocals = executor.makeBodyLocals(values: callerLocals.values)
        defer {
            bodyLocals.close()
            if callerLocals.isOwned(by: .current) {
                callerLocals.merge(bodyLocals.changes)
            }
            executor.keepForReuse(&bodyLocals)
        }
        // Outside any bridged sync body (no async caller above), a single-thread context runs the
        // body on its dedicated thread; otherwise the body runs here.
        var preferred: JobQueue? = nil
        if let single = outer.singleThread, outer.occupying == nil, outer.call == nil {
            preferred = single.queue
        }
        return try executor.drain(
            state: bodyState(outer: outer, executor: executor, locals: bodyLocals),
            preferring: preferred,
            cancelling: outer.call,
            body
        )
    }

    /// The bridge state of an operation's task: the caller's, with this executor and scope.
    private static func bodyState(outer: BridgeState, executor: CurrentThreadExecutor, locals: LocalStorage) -> BridgeState {
        var state = outer
        state.executor = executor
        state.locals = locals
        state.occupying = nil
        return state
    }
}

/// Wraps an async function as a blocking one that runs it through ``AsyncToSync/run(_:)``.
///
/// ```swift
/// let fetch = asyncToSync { (url: String) in try await client.get(url) }
/// let page = try fetch("https://example.com")   // from a plain thread
/// ```
///
/// Building the wrapper is fine anywhere; *calling* it from a task throws
/// ``BridgeError/asyncToSyncInAsyncContext``.
public func asyncToSync<each A: Sendable, R: Sendable>(
    _ function: @escaping @Sendable (repeat each A) async throws -> R
) -> @Sendable (repeat each A) throws -> R {
    { (arguments: repeat each A) in
        try AsyncToSync.run { try await function(repeat each arguments) }
    }
}
