/// Runs every ``asyncToSync(_:)`` body inside it on one dedicated thread.
///
/// Async code that keeps thread-bound state (a C library's per-thread handle, a non-thread-safe
/// cache guarded by "always the same thread") sees the same thread across separate `asyncToSync`
/// calls made in the context. The caller's thread still serves thread-sensitive sync calls.
///
/// The context applies to `asyncToSync` calls made from plain synchronous code; one made inside a
/// bridged sync body (with an async caller above it) runs on the calling thread as usual. Contexts
/// are re-entrant: the outermost one's thread is used.
///
/// ```swift
/// AsyncSingleThreadContext.run {
///     let a = try? AsyncToSync.run { await cache.warm() }
///     let b = try? AsyncToSync.run { await cache.read() }   // same thread as warm()
/// }
/// ```
public enum AsyncSingleThreadContext {
    /// Runs `body` with one dedicated thread for the `asyncToSync` bodies inside it.
    @available(*, noasync, message: "AsyncSingleThreadContext is for synchronous code")
    public static func run<R>(_ body: () throws -> R) rethrows -> R {
        var state = BridgeState.current
        if state.singleThread != nil {
            return try body()
        }
        let thread = DedicatedThreads.acquire()
        state.singleThread = thread
        defer {
            // Release from the thread itself once whatever it still has queued has run.
            if thread.submit(ClosureWork { DedicatedThreads.release(thread) }) != .queued {
                DedicatedThreads.release(thread)
            }
        }
        return try BridgeState.$current.withValue(state, operation: body)
    }
}
