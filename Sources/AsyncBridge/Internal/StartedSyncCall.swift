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

    /// Queues `body` and returns at once.
    /// - Parameters:
    ///   - threadSensitive: as for ``SyncToAsync/run(threadSensitive:executor:_:)``.
    ///   - executor: as for ``SyncToAsync/run(threadSensitive:executor:_:)``.
    ///   - body: the blocking code; it handles its own errors.
    ///   - completion: called exactly once, after `body` returned (`skipped == false`) or instead of
    ///     it when the call was cancelled before it started (`skipped == true`).
    /// - Throws: `CancellationError` if the caller is cancelled already; ``BridgeError/queueFull``,
    ///   ``BridgeError/executorWithThreadSensitive`` and ``BridgeError/wouldDeadlock`` as `run`
    ///   does. Nothing was queued and `completion` is never called when it throws.
    package static func start(
        threadSensitive: Bool,
        executor: (any BlockingExecutor)?,
        _ body: @escaping @Sendable () -> Void,
        completion: @escaping @Sendable (_ skipped: Bool) -> Void
    ) throws -> StartedSyncCall {
        let (state, route) = try SyncToAsync.prepare(threadSensitive: threadSensitive, executor: executor)
        let call = CompletingSyncCall(body: body, completion: completion, callerState: state, route: route)
        try call.startWithoutWaiting()
        return StartedSyncCall(call: call)
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
