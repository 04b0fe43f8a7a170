import Synchronization

/// An executor that runs work on the thread that created it, while that thread waits.
///
/// This is the heart of ``asyncToSync(_:)``: the blocked caller thread does not sleep idly but
/// drains this executor's queue, running both the async body's jobs (the executor is the body
/// task's `TaskExecutor`) and thread-sensitive ``syncToAsync(threadSensitive:executor:_:)`` calls
/// made further down. So `sync → async → sync` comes back to the very thread that started the chain.
///
/// An executor serves one operation: ``run(until:)`` starts it and drains until it finishes, then
/// the executor is finished for good. Work submitted later goes to the nearest live executor up the
/// chain of `asyncToSync` calls instead (see ``submit(_:)``), never to a finished one.
///
/// ```swift
/// let executor = CurrentThreadExecutor()
/// let value = try executor.run {          // on a plain thread
///     try await fetch()                   // runs on this thread
/// }
/// ```
public final class CurrentThreadExecutor: TaskExecutor, SerialExecutor, @unchecked Sendable {
    let queue = JobQueue()
    /// Set once ``run(until:)`` (or `asyncToSync`) starts draining; an executor serves one operation.
    private let started = Atomic<Bool>(false)
    let thread = currentThreadID()
    /// The executor of the enclosing `asyncToSync`, if any: the fallback once this one finishes.
    let parent: CurrentThreadExecutor?

    /// Creates an executor bound to the calling thread.
    public convenience init() {
        self.init(parent: BridgeState.current.executor)
    }

    init(parent: CurrentThreadExecutor?) {
        self.parent = parent
    }

    /// Whether the executor has finished its operation and accepts no more work.
    public var isFinished: Bool { queue.isClosed }

    /// Whether the executor is serving its operation now.
    var isLive: Bool { started.load(ordering: .acquiring) && !queue.isClosed }

    /// Runs `operation` as a task whose jobs all run on the calling thread, which drains this
    /// executor until the operation has finished; returns its result or throws its error.
    ///
    /// Call it once, on the thread that created the executor, from synchronous code.
    /// It behaves as ``AsyncToSync/run(_:)`` does (a `Local` scope for the operation, cancellation
    /// from an enclosing bridged body), with this executor serving the thread.
    /// - Throws: ``BridgeError`` with code `wrongThread` from another thread, `executorFinished` on a
    ///   second call (also while the first still runs), `asyncToSyncInAsyncContext` from inside a task;
    ///   otherwise what `operation` throws.
    @available(*, noasync, message: "run(until:) blocks the calling thread; await the operation directly")
    public func run<R: Sendable>(until operation: @escaping @Sendable () async throws -> R) throws -> R {
        guard pthread_equal_(thread, currentThreadID()) else { throw BridgeError.wrongThread }
        guard !isInsideTask() else { throw BridgeError.asyncToSyncInAsyncContext }
        return try AsyncToSync.run(serving: self, operation)
    }

    /// Marks the executor as serving; `false` if it already served (or serves) an operation.
    func markStarted() -> Bool {
        started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    /// Starts `operation` as a task that inherits `state` and prefers `preferred` (this executor,
    /// or a dedicated thread), drains this executor until the operation is done, then closes it.
    func drain<R: Sendable>(
        state: BridgeState,
        preferring preferred: any TaskExecutor,
        cancelling call: (any SyncCallControl)?,
        _ operation: @escaping @Sendable () async throws -> R
    ) throws -> R {
        var outcome: Result<R, any Error>? = nil
        withUnsafeMutablePointer(to: &outcome) { pointer in
            let slot = UnsafeSendablePointer(pointer)
            // The state is bound inside the task (the task allocator, no malloc) rather than on
            // this thread before creating it.
            let task = Task(executorPreference: preferred) { [self] in
                let result: Result<R, any Error> = await BridgeState.$current.withValue(state) {
                    state.locals?.claim()
                    do {
                        return .success(try await operation())
                    } catch {
                        return .failure(error)
                    }
                }
                slot.pointer.pointee = result
                queue.finish()
            }
            let token = call?.onCancel { task.cancel() }
            runLoop()
            if let token { call?.removeCancelHandler(token) }
        }
        return try outcome!.get()
    }

    private func runLoop() {
        while let work = queue.next() {
            switch work {
            case .item(let item):
                item.run()
            case .job(let job):
                job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            }
        }
    }

    /// Runs `work` on this executor's thread and returns its result; if this executor is not serving
    /// (not started yet, or finished), on the nearest live executor of an enclosing `asyncToSync`.
    /// - Throws: ``BridgeError`` code `executorFinished` when no executor in the chain is live.
    public func submit<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
        guard let executor = liveExecutor else { throw BridgeError.executorFinished }
        return try await SyncCall.perform(on: .executor(executor), threadSensitive: true, work)
    }

    /// This executor if it still accepts work, else the nearest live one up the chain.
    var liveExecutor: CurrentThreadExecutor? {
        var candidate: CurrentThreadExecutor? = self
        while let executor = candidate {
            if executor.isLive { return executor }
            candidate = executor.parent
        }
        return nil
    }

    // MARK: Executor conformances

    /// Queues a job of a task that prefers this executor (or is isolated to it).
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if queue.push(.job(job)) != .queued {
            OrphanJobs.run(job, isolatedTo: self)
        }
    }

    /// This executor as a serial executor reference.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// This executor as a task executor reference.
    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}

/// A pointer the caller guarantees stays valid and is used without overlap.
struct UnsafeSendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
