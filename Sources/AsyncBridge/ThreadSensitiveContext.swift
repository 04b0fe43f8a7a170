/// Gives the thread-sensitive calls inside it a thread of their own.
///
/// Without a context, thread-sensitive ``SyncToAsync`` calls that have no ``asyncToSync(_:)`` above
/// them share one process-wide thread, so one slow request holds up every other. Run each request
/// in a context and each gets its own thread while calls within one request still meet the same
/// thread. Threads are reused: a context takes an idle one (up to 16 are kept idle) and makes a new
/// one only when none is idle, so concurrent contexts cost one thread each.
///
/// Contexts are bounded: at most ``threadLimit`` threads are lent to contexts at once (default 64,
/// or the `ASGI_CONTEXT_THREADS` environment variable). A context that starts while every one is
/// lent out waits, first come first served, until one comes back, so a flood of requests queues
/// instead of creating threads until the process can create no more. A task cancelled while it
/// waits stops waiting and runs `body` without a thread of its own; the bridge calls in it then
/// throw `CancellationError` at once.
///
/// Contexts are re-entrant: a context inside another uses the outer one's thread (and waits for
/// nothing). Leaving a context never blocks: work still queued on its thread (say, from a caller
/// that was cancelled) finishes there before the thread goes back to the idle set (and its place
/// under the limit is free again), and calls that arrive after the context ended run as if there
/// were no context.
///
/// ```swift
/// try await ThreadSensitiveContext.run {
///     try await SyncToAsync.run { legacySession.begin() }
///     try await SyncToAsync.run { legacySession.commit() }   // same thread as begin()
/// }
/// ```
public enum ThreadSensitiveContext {
    /// Runs `body` with a dedicated thread for its thread-sensitive calls.
    public static func run<R>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async rethrows -> R {
        try await run(limitedBy: .shared, isolation: isolation, body)
    }

    /// The most threads lent to contexts at once; contexts past it wait for a thread to come back.
    ///
    /// Set it at startup, before serving (at least 1). Raising it serves waiting contexts at once;
    /// lowering it takes effect as threads come back.
    public static var threadLimit: Int {
        get { ContextThreadLimit.shared.limit }
        set { ContextThreadLimit.shared.limit = newValue }
    }

    /// ``run(isolation:_:)`` under the bound of `limit`.
    static func run<R>(
        limitedBy limit: ContextThreadLimit,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async rethrows -> R {
        var state = BridgeState.current
        if let lane = state.sensitiveLane, lane.isOpen {
            return try await body()
        }
        guard await limit.acquire() else {
            // Cancelled while waiting for a thread: no thread of its own; the bridge calls inside
            // see the cancellation and throw at once.
            return try await body()
        }
        let thread = DedicatedThreads.acquire()
        let lane = SensitiveLane(thread: thread, limit: limit)
        state.sensitiveLane = lane
        defer { lane.close() }
        return try await BridgeState.$current.withValue(state, operation: body, isolation: isolation)
    }
}
