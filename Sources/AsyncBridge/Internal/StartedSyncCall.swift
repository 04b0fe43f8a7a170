/// A `syncToAsync` call that the caller does not await: the body is queued where
/// ``SyncToAsync/run(threadSensitive:executor:_:)`` would run it, with the caller's `Local` scope,
/// and its end is reported to a callback on the thread that ran it.
///
/// For the library's own adapters (`WSGIToASGI`), which wait for a body's output and its end
/// through one channel, so that a request costs one wake-up of the async side instead of two. The
/// caller keeps waiting on its channel until the completion has run, then calls
/// ``mergeLocals()``; on cancellation it calls ``cancel()`` and may stop waiting.
package struct StartedSyncCall: Sendable {
    private let call: CompletingSyncCall
    /// The caller's own thread, when the body was queued there: asked for
    /// (``start(threadSensitive:executor:on:_:completion:)``), or where a thread-sensitive call
    /// goes from async code that an `asyncToSync` thread runs. The body then runs on the thread of
    /// the caller, so it must wait for the caller only through ``WaitingThread/runQueuedWork()``.
    package let waitingThread: WaitingThread?

    /// Queues `body` and returns at once.
    /// - Parameters:
    ///   - threadSensitive: as for ``SyncToAsync/run(threadSensitive:executor:_:)``.
    ///   - executor: as for ``SyncToAsync/run(threadSensitive:executor:_:)``.
    ///   - waitingThread: for a call that is neither thread-sensitive nor given an executor: the
    ///     thread that runs the caller (``WaitingThread/current``), to queue the body there instead
    ///     of on the pool. It then runs on that thread once the caller suspends, and must wait for
    ///     the caller only through ``WaitingThread/runQueuedWork()``. Ignored otherwise, and when
    ///     that thread's executor no longer accepts work (the body goes to the pool).
    ///   - body: the blocking code; it handles its own errors.
    ///   - completion: called exactly once, after `body` returned (`skipped == false`) or instead of
    ///     it when the call was cancelled before it started (`skipped == true`).
    /// - Throws: `CancellationError` if the caller is cancelled already; ``BridgeError/queueFull``,
    ///   ``BridgeError/executorWithThreadSensitive`` and ``BridgeError/wouldDeadlock`` as `run`
    ///   does. Nothing was queued and `completion` is never called when it throws.
    package static func start(
        threadSensitive: Bool,
        executor: (any BlockingExecutor)?,
        on waitingThread: WaitingThread? = nil,
        _ body: @escaping @Sendable () -> Void,
        completion: @escaping @Sendable (_ skipped: Bool) -> Void
    ) throws -> StartedSyncCall {
        var (state, route) = try SyncToAsync.prepare(threadSensitive: threadSensitive, executor: executor)
        let inline = waitingThread.flatMap { thread in
            !threadSensitive && executor == nil && thread.isCurrent ? thread : nil
        }
        if let inline { route = SyncRoute(waitingThread: inline.executor) }
        let call = CompletingSyncCall(body: body, completion: completion, callerState: state, route: route)
        try call.startWithoutWaiting()
        // Read on the caller's thread right after queuing: a body queued on that thread cannot
        // have started yet.
        let queuedThere = (inline ?? WaitingThread.current).flatMap { call.isQueued(on: $0.executor) ? $0 : nil }
        return StartedSyncCall(call: call, waitingThread: queuedThere)
    }

    /// Cancels the call: the body sees ``SyncToAsync/isCancelled``, a body not started yet is
    /// skipped. The completion still comes.
    package func cancel() {
        call.cancel()
    }

    /// Copies the body's `Local` changes to the caller's scope; call it on the caller's task once
    /// the completion has run.
    package func mergeLocals() {
        call.mergeChangesIntoCaller()
    }
}

/// The call object of a ``StartedSyncCall``.
final class CompletingSyncCall: SyncCallBase, @unchecked Sendable {
    private let body: @Sendable () -> Void
    private let completion: @Sendable (_ skipped: Bool) -> Void

    init(
        body: @escaping @Sendable () -> Void,
        completion: @escaping @Sendable (_ skipped: Bool) -> Void,
        callerState: BridgeState,
        route: SyncRoute
    ) {
        self.body = body
        self.completion = completion
        super.init(callerState: callerState, route: route)
    }

    override func runBody() throws {
        body()
    }

    override func completed(failure: (any Error)?) {
        completion(failure != nil)
    }
}
