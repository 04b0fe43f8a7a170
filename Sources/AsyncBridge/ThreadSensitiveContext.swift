/// Gives the thread-sensitive calls inside it a thread of their own.
///
/// Without a context, thread-sensitive ``SyncToAsync`` calls that have no ``asyncToSync(_:)`` above
/// them share one process-wide thread, so one slow request holds up every other. Run each request
/// in a context and each gets its own thread while calls within one request still meet the same
/// thread. Threads are reused: a context takes an idle one (up to 16 are kept idle) and makes a new
/// one only when none is idle, so concurrent contexts cost one thread each.
///
/// Contexts are re-entrant: a context inside another uses the outer one's thread. Leaving a context
/// never blocks: work still queued on its thread (say, from a caller that was cancelled) finishes
/// there before the thread goes back to the idle set, and calls that arrive after the context ended
/// run as if there were no context.
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
        var state = BridgeState.current
        if let lane = state.sensitiveLane, lane.isOpen {
            return try await body()
        }
        let thread = DedicatedThreads.acquire()
        let lane = SensitiveLane(thread: thread)
        state.sensitiveLane = lane
        defer {
            lane.close { DedicatedThreads.release(thread) }
        }
        return try await BridgeState.$current.withValue(state, operation: body, isolation: isolation)
    }
}
