import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An executor that runs work on the thread that created it, while that thread waits.
///
/// This is the heart of ``asyncToSync(_:)``: the blocked caller thread does not sleep idly but
/// drains this executor's queue, running both the async body's jobs (the body task prefers the
/// executor's queue as its task executor) and thread-sensitive
/// ``syncToAsync(threadSensitive:executor:_:)`` calls made further down. So `sync → async → sync`
/// comes back to the very thread that started the chain. Jobs enqueued on the executor itself (as a
/// serial or task executor you pass somewhere) run on that thread too, isolated to it.
///
/// An executor serves one operation: ``run(until:)`` starts it and drains until it finishes, then
/// the executor is finished for good. Work submitted later goes to the nearest live executor up the
/// chain of `asyncToSync` calls instead (see ``submit(_:)``), never to a finished one.
/// (``asyncToSync(_:)`` reuses the executors it makes internally for later calls on the same thread,
/// but only those that nothing references any more once their call has returned, so no finished
/// executor anyone can still reach ever serves again.)
///
/// ```swift
/// let executor = CurrentThreadExecutor()
/// let value = try executor.run {          // on a plain thread
///     try await fetch()                   // runs on this thread
/// }
/// ```
public final class CurrentThreadExecutor: TaskExecutor, SerialExecutor, @unchecked Sendable {
    // Mutable state is `@exclusivity(unchecked)`: only the executor's own thread touches it (or
    // code that the queue's lock orders after it), so the dynamic exclusivity checks, a few percent
    // of a crossing, buy nothing.
    /// The work this executor's thread drains. It is also the task executor of the operation's task
    /// (whose jobs then run without serial isolation); `var` only so that reuse can check that nothing
    /// else references it.
    @exclusivity(unchecked)
    private(set) var queue = JobQueue()
    /// Set once ``run(until:)`` (or `asyncToSync`) starts draining; an executor serves one operation.
    private let started = Atomic<Bool>(false)
    let thread = currentThreadID()
    /// The queue of the ``BlockingThreadPool`` whose thread this executor blocks, if it blocks one:
    /// that pool's calls from below may then run here instead of waiting for a pool thread.
    let hostPool = BlockingThreadPool.queueOfCurrentThread()
    /// The executor of the enclosing `asyncToSync`, if any: the fallback once this one finishes.
    /// Changed only while nothing else references the executor (see ``ExecutorCache``).
    @exclusivity(unchecked)
    private(set) var parent: CurrentThreadExecutor?

    /// Whether `asyncToSync` made this executor (and may reuse it once nothing else references it).
    private let reusable: Bool
    /// The next executor in this thread's cache of idle executors.
    @exclusivity(unchecked)
    fileprivate var nextSpare: CurrentThreadExecutor?
    /// A finished operation's `Local` scope, kept for the next operation when nothing else held it.
    @exclusivity(unchecked)
    private var spareLocals: LocalStorage?

    // Handed from drain(state:preferring:cancelling:_:) to the operation's task, which reads them
    // before the operation can finish; drain clears them once the queue has closed. Non-generic,
    // so that the hot path looks up no generic metadata (the library is not specialised for its
    // callers' result types).
    @exclusivity(unchecked)
    private var operationState = BridgeState()
    /// Points to the operation closure, on the blocked thread's stack.
    @exclusivity(unchecked)
    private var operationFunction: UnsafeRawPointer?
    /// Uninitialised storage for the operation's value, on the blocked thread's stack.
    @exclusivity(unchecked)
    private var operationValue: UnsafeMutableRawPointer?
    @exclusivity(unchecked)
    private var operationRunner: (any OperationRunner.Type)?
    /// The operation's error; `nil` once the task has finished means the value is ready.
    @exclusivity(unchecked)
    private var operationError: (any Error)?

    /// Creates an executor bound to the calling thread.
    public convenience init() {
        self.init(parent: BridgeState.current.executor, reusable: false)
    }

    init(parent: CurrentThreadExecutor?, reusable: Bool) {
        self.parent = parent
        self.reusable = reusable
    }

    /// Whether the executor has finished its operation and accepts no more work.
    public var isFinished: Bool { started.load(ordering: .acquiring) && !queue.acceptsWork }

    /// Whether the executor accepts new work: it has started and its operation has not returned.
    ///
    /// An executor whose operation has returned is not live even while its thread still drains the
    /// work queued before (it refuses every push from then on), so routing never offers it new work.
    var isLive: Bool { started.load(ordering: .acquiring) && queue.acceptsWork }

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
        return try AsyncToSync.run(serving: self, outer: BridgeState.current, operation)
    }

    /// Marks the executor as serving; `false` if it already served (or serves) an operation.
    func markStarted() -> Bool {
        started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    /// Starts `operation` as a task that inherits `state` and prefers `preferred` (the queue of a
    /// dedicated thread; `nil`: this executor's own queue), drains this executor until the operation
    /// is done, then closes it.
    func drain<R: Sendable>(
        state: BridgeState,
        preferring preferred: JobQueue?,
        cancelling call: (any SyncCallControl)?,
        _ operation: @escaping @Sendable () async throws -> R
    ) throws -> R {
        // Only this frame is generic: the operation and storage for its value stay on this (blocked)
        // thread's stack, and everything else is non-generic code.
        try withUnsafePointer(to: operation) { function in
            try withUnsafeTemporaryAllocation(of: R.self, capacity: 1) { value in
                try serve(
                    function: UnsafeRawPointer(function),
                    value: UnsafeMutableRawPointer(value.baseAddress!),
                    runner: OperationRunning<R>.self,
                    state: state,
                    preferring: preferred,
                    cancelling: call
                )
                return value.baseAddress!.move()
            }
        }
    }

    /// Starts the operation's task and drains this executor until it has finished; throws the
    /// operation's error, else `value` holds its result.
    private func serve(
        function: UnsafeRawPointer,
        value: UnsafeMutableRawPointer,
        runner: any OperationRunner.Type,
        state: BridgeState,
        preferring preferred: JobQueue?,
        cancelling call: (any SyncCallControl)?
    ) throws {
        operationState = state
        operationFunction = function
        operationValue = value
        operationRunner = runner
        operationError = nil
        // A non-generic task costs the fewest allocations, and the state is bound inside the task
        // (the task allocator, no malloc).
        let task: Task<Void, Never>
        if let preferred {
            // A dedicated thread runs the task: the closure carries the executor (one small box).
            task = Task(executorPreference: preferred) { [self] in
                await runOperation()
            }
        } else {
            // Only this thread's runLoop drains `queue`, so the task's first job runs there, with
            // this executor registered as the thread's draining one: a closure that captures
            // nothing (no allocation) finds it.
            task = Task(executorPreference: queue) {
                await CurrentThreadExecutor.runDrainingOperation()
            }
        }
        let token = call?.cancelOnCancellation(task)
        runLoop()
        if let token { call?.removeCancellation(token) }
        let error = operationError
        operationState = BridgeState()
        operationFunction = nil
        operationValue = nil
        operationRunner = nil
        operationError = nil
        if let error { throw error }
    }

    /// The body of the operation's task.
    private func runOperation() async {
        let state = operationState
        let function = operationFunction!
        let value = operationValue!
        let runner = operationRunner!
        let error = await BridgeState.$current.withValue(state) { () async -> (any Error)? in
            state.locals?.claim()
            do {
                try await runner.run(function, into: value)
                return nil
            } catch {
                return error
            }
        }
        // Written before finish() publishes the end of the operation to the draining thread.
        operationError = error
        queue.finish()
    }

    /// The body of an operation task started by the executor draining the calling thread (read
    /// before the first suspension, in the task's first job).
    private static func runDrainingOperation() async {
        guard let pointer = pthread_getspecific(drainingKey) else {
            preconditionFailure("an asyncToSync operation task started outside its executor's thread")
        }
        await Unmanaged<CurrentThreadExecutor>.fromOpaque(pointer).takeUnretainedValue().runOperation()
    }

    /// The executor whose runLoop drains the calling thread now (nested calls stack up and restore).
    static let drainingKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    private func runLoop() {
        let outerDraining = pthread_getspecific(Self.drainingKey)
        pthread_setspecific(Self.drainingKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.drainingKey, outerDraining) }
        while runNext() {}
    }

    /// The executor whose runLoop drains the calling thread now, if one does.
    static var draining: CurrentThreadExecutor? {
        pthread_getspecific(drainingKey).map { Unmanaged<CurrentThreadExecutor>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Takes the next piece of queued work, sleeping until there is some, and runs it on the calling
    /// thread (this executor's); `false`, running nothing, once the queue has closed.
    ///
    /// The runLoop is this in a loop; blocking code that the runLoop runs calls it too, to wait for
    /// work of this thread's own tasks without blocking them (see ``WaitingThread``).
    func runNext() -> Bool {
        guard let work = queue.next() else { return false }
        switch work {
        case .item(let item):
            item.run()
        case .taskJob(let job):
            queue.runTaskJob(job)
        case .job(let job):
            job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        }
        return true
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

    // MARK: Reuse

    /// The `Local` scope for a new operation, seeded with `values`: the previous operation's scope
    /// if it was kept, else a new one.
    func makeBodyLocals(values: [UInt64: any Sendable]) -> LocalStorage {
        if let spare = spareLocals {
            spareLocals = nil
            spare.reset(values: values)
            return spare
        }
        return LocalStorage(owner: .unclaimed, values: values)
    }

    /// Keeps a closed operation scope for the next operation if nothing else references it, emptied
    /// at once so that it holds no `Local` values alive in the meantime.
    func keepForReuse(_ locals: inout LocalStorage) {
        guard reusable, isKnownUniquelyReferenced(&locals) else { return }
        locals.reset(values: [:])
        spareLocals = locals
    }

    /// Makes a finished executor that nothing else references serve a new operation on its thread;
    /// `false` if something still references it or its queue (such an executor stays finished).
    fileprivate func prepareForReuse() -> Bool {
        guard reusable, queue.isClosed, isKnownUniquelyReferenced(&queue) else { return false }
        queue.reopen()
        started.store(false, ordering: .releasing)
        parent = nil
        return true
    }

    fileprivate func adopt(parent: CurrentThreadExecutor?) {
        self.parent = parent
    }

    // MARK: Executor conformances

    /// Queues a job of a task that prefers this executor (or is isolated to it).
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if queue.push(.job(job)) != .queued {
            OrphanJobs.run(job, serial: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
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

/// Runs an `asyncToSync` operation whose result type the conforming type knows: lets the
/// non-generic operation task call generic code through a metatype instead of a generic closure.
protocol OperationRunner {
    /// Calls the `@Sendable () async throws -> R` closure at `function` and initialises `value`
    /// (storage for an `R`) with its result; throws what the closure throws.
    static func run(_ function: UnsafeRawPointer, into value: UnsafeMutableRawPointer) async throws
}

/// The ``OperationRunner`` for operations returning `R`.
enum OperationRunning<R: Sendable>: OperationRunner {
    static func run(_ function: UnsafeRawPointer, into value: UnsafeMutableRawPointer) async throws {
        let operation = function.assumingMemoryBound(to: (@Sendable () async throws -> R).self).pointee
        value.assumingMemoryBound(to: R.self).initialize(to: try await operation())
    }
}

/// Each thread's idle executors made by `asyncToSync`, so that sequential calls on a thread reuse one
/// executor (with its queue, lock and buffer) instead of allocating them each time.
///
/// An executor comes back here only if, once its operation has finished, nothing but the caller
/// references it or its queue: no task, `Local` scope or bridge state can then ever reach it again,
/// so reopening it cannot hand work to a stale holder. An executor that something still references
/// (say, a task that outlived its `asyncToSync`) simply stays finished and is never reused.
enum ExecutorCache {
    /// At most this many idle executors per thread (nested `asyncToSync` calls use one each).
    static let limit = 2

    /// An idle executor of this thread, now a child of `parent`, or `nil` if there is none.
    static func take(parent: CurrentThreadExecutor?) -> CurrentThreadExecutor? {
        guard let pointer = pthread_getspecific(key) else { return nil }
        let executor = Unmanaged<CurrentThreadExecutor>.fromOpaque(pointer).takeRetainedValue()
        let next = executor.nextSpare
        executor.nextSpare = nil
        pthread_setspecific(key, next.map { Unmanaged.passRetained($0).toOpaque() })
        executor.adopt(parent: parent)
        return executor
    }

    /// Keeps `executor` for the next call on this thread if nothing else references it.
    static func recycle(_ executor: inout CurrentThreadExecutor) {
        guard isKnownUniquelyReferenced(&executor) else { return }
        var depth = 0
        var head: CurrentThreadExecutor? = nil
        if let pointer = pthread_getspecific(key) {
            head = Unmanaged<CurrentThreadExecutor>.fromOpaque(pointer).takeUnretainedValue()
            var spare = head
            while let current = spare {
                depth += 1
                spare = current.nextSpare
            }
        }
        guard depth < limit, executor.prepareForReuse() else { return }
        if let pointer = pthread_getspecific(key) {
            Unmanaged<CurrentThreadExecutor>.fromOpaque(pointer).release()
        }
        executor.nextSpare = head
        pthread_setspecific(key, Unmanaged.passRetained(executor).toOpaque())
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { pointer in
            #if canImport(Darwin)
            Unmanaged<CurrentThreadExecutor>.fromOpaque(pointer).release()
            #else
            if let pointer { Unmanaged<CurrentThreadExecutor>.fromOpaque(pointer).release() }
            #endif
        }
        precondition(rc == 0, "pthread_key_create failed")
        return key
    }()
}
