import DequeModule
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A unit of blocking work the bridge hands to a thread.
///
/// Bridge calls are classes that conform to this, so queuing one costs no extra allocation.
protocol WorkItem: AnyObject, Sendable {
    /// Runs the work on the thread that dequeued it.
    func run()
}

/// What a bridge thread's queue holds: a blocking work item or a Swift task's job.
enum QueuedWork: Sendable {
    case item(any WorkItem)
    /// A job enqueued on a ``CurrentThreadExecutor`` through its public conformances: it runs
    /// isolated to that executor as a serial executor (it may belong to an actor that uses it).
    case job(UnownedJob)
    /// A job of a task that prefers the queue itself as its task executor (the body task of an
    /// `asyncToSync`): it runs on the queue's thread without serial isolation, so the task's calls
    /// to nonisolated async functions continue inline instead of being queued again.
    case taskJob(UnownedJob)
}

/// A FIFO queue of work drained by one or more threads, which sleep while it is empty.
///
/// Threads that drain with a ``Parker`` of their own (the pool's) are woken last-in first-out: a
/// push wakes the thread that went to sleep most recently, so sequential calls keep meeting the same
/// warm thread instead of waking every pool thread in turn. Before parking, one of them at a time
/// polls the queue for a few microseconds: under a steady stream of calls the next one arrives
/// within that time and is taken without a sleep and a wake-up (which cost more than a small call
/// itself). A push wakes a parked thread only when no thread polls or is being woken; a thread
/// that takes work wakes the next one if more waits than the polling and waking threads will take.
/// So a burst of pushes (an event loop's requests) costs the pusher one wake-up at most, and work
/// that blocks still gets a thread per item.
///
/// A queue can be *finished*: it refuses every later push, still hands out what it holds, and once
/// it is empty it closes for good. A push therefore succeeds exactly when the work will run, which
/// is how the bridge never uses an executor that has quit. (Only ``reopen()``, for a queue that
/// nothing else references any more, undoes that.)
///
/// The queue is also the task executor of the tasks the bridge starts for `asyncToSync` bodies: their
/// jobs are queued as ``QueuedWork/taskJob(_:)`` and run by whichever thread drains the queue.
///
/// Unchecked `Sendable`: every `var` (marked `@exclusivity(unchecked)`) is read and written only
/// with `lock` held, as are the ``Parker/woken`` flags of the parkers it holds; `pending` is atomic
/// (the one thing the polling thread reads unlocked) and `limit` is immutable. (A `Mutex` cannot
/// serve: the threads sleep on condition variables with this lock.)
final class JobQueue: TaskExecutor, @unchecked Sendable {
    private let lock = ConditionLock()
    @exclusivity(unchecked)
    private var items = Deque<QueuedWork>()
    @exclusivity(unchecked)
    private var sleepers = 0
    /// Threads sleeping on their own parkers, the most recent last.
    @exclusivity(unchecked)
    private var parked: [Parker] = []
    @exclusivity(unchecked)
    private var finishing = false
    @exclusivity(unchecked)
    private var closed = false
    /// Pool threads (at most one) polling for work before they park.
    @exclusivity(unchecked)
    private var spinning = 0
    /// Parked pool threads woken that have not taken their work yet.
    @exclusivity(unchecked)
    private var wakesInFlight = 0
    /// `items.count`, readable without the lock by the polling thread.
    private let pending = Atomic<Int>(0)
    /// Pushes refused because the queue was finishing or closed (a diagnostic: a caller that keeps
    /// retrying a refusing queue shows here).
    @exclusivity(unchecked)
    private var refusals = 0
    /// Pushing beyond this many waiting items fails (`nil`: no limit).
    let limit: Int?

    init(limit: Int? = nil) {
        self.limit = limit
    }

    deinit {
        lock.destroy()
    }

    enum PushResult {
        case queued
        case closed
        case full
        /// Refused by ``pushToIdleThread(_:)``: no idle thread would take the work.
        case noIdleThread
    }

    /// Appends work; wakes a sleeping thread if there is one.
    @discardableResult
    func push(_ work: QueuedWork) -> PushResult {
        lock.lock()
        if closed || finishing {
            refusals += 1
            lock.unlock()
            return .closed
        }
        if let limit, items.count >= limit {
            lock.unlock()
            return .full
        }
        return appendAndWake(work)
    }

    /// Appends work only if a thread that is idle now (parked, polling, or woken for earlier work)
    /// will take it: fewer items wait than such threads exist. Busy threads are not counted, so
    /// work queued this way never waits for a thread that is itself waiting.
    func pushToIdleThread(_ work: QueuedWork) -> PushResult {
        lock.lock()
        if closed || finishing {
            refusals += 1
            lock.unlock()
            return .closed
        }
        guard items.count < parked.count + spinning + wakesInFlight + sleepers else {
            lock.unlock()
            return .noIdleThread
        }
        return appendAndWake(work)
    }

    /// With the lock held (released on return): appends `work` and wakes a thread for it.
    @inline(__always)
    private func appendAndWake(_ work: QueuedWork) -> PushResult {
        items.append(work)
        pending.store(items.count, ordering: .relaxed)
        // One wake-up in flight is enough: the woken thread wakes the next if more is waiting
        // (the pusher, often an event loop, makes one wake-up per burst instead of one per call).
        let parker = spinning + wakesInFlight == 0 ? parkerToWake() : nil
        let wake = parker == nil && sleepers > 0
        lock.unlock()
        // A parker outlives its thread's sleep (the thread owns it), so signalling after unlocking
        // is safe.
        if let parker {
            parker.signal()
        } else if wake {
            lock.signal()
        }
        return .queued
    }

    /// The next piece of work, sleeping while there is none.
    ///
    /// Returns `nil` once the queue is finished and empty; the queue is then closed.
    /// - Parameter parker: the calling thread's own parker, to be woken in LIFO order; `nil` to
    ///   sleep on the queue's shared condition (single-thread queues).
    func next(parker: Parker? = nil) -> QueuedWork? {
        lock.lock()
        var polled = false
        while items.isEmpty {
            if finishing {
                closed = true
                let parkers = parked
                parked.removeAll()
                wakesInFlight += parkers.count
                for parker in parkers { parker.woken = true }
                lock.unlock()
                lock.broadcast()
                for parker in parkers { parker.signal() }
                return nil
            }
            if let parker {
                if !polled && spinning < Self.maxSpinning && Self.spinIterations > 0 {
                    polled = true
                    spinning += 1
                    lock.unlock()
                    var spins = 0
                    while pending.load(ordering: .relaxed) == 0 && spins < Self.spinIterations {
                        spins += 1
                        // Let a runnable thread (the one about to push, say) have the core.
                        if spins % 64 == 0 { sched_yield() }
                    }
                    lock.lock()
                    spinning -= 1
                    continue
                }
                parker.woken = false
                parked.append(parker)
                while !parker.woken { lock.wait(on: parker.condition) }
                wakesInFlight -= 1
            } else {
                sleepers += 1
                lock.wait()
                sleepers -= 1
            }
        }
        let work = items.removeFirst()
        pending.store(items.count, ordering: .relaxed)
        // Work that pushes left to the polling thread: wake the next thread if more is waiting.
        let next = parker == nil ? nil : parkerToWake()
        lock.unlock()
        next?.signal()
        return work
    }

    /// With the lock held: a parked thread to wake (marked woken) when more work waits than the
    /// polling thread and the threads being woken will take.
    private func parkerToWake() -> Parker? {
        guard items.count > spinning + wakesInFlight, let parker = parked.popLast() else { return nil }
        parker.woken = true
        wakesInFlight += 1
        return parker
    }

    /// How many pool threads of a queue poll at once (two measured no better on two cores).
    static let maxSpinning = 1

    /// How many times a pool thread polls for work before parking (`ASGI_POOL_SPIN`; default
    /// 2,000, a few microseconds; 0 turns polling off).
    static let spinIterations: Int = {
        if let raw = getenv("ASGI_POOL_SPIN"), let value = Int(String(cString: raw)), value >= 0 { return value }
        return 2_000
    }()

    /// Asks the draining threads to stop once the queue is empty.
    func finish() {
        lock.lock()
        finishing = true
        let wake = sleepers > 0
        let parkers = parked
        parked.removeAll()
        wakesInFlight += parkers.count
        for parker in parkers { parker.woken = true }
        lock.unlock()
        if wake { lock.broadcast() }
        for parker in parkers { parker.signal() }
    }

    /// Makes a closed queue accept work again, for reuse by a new operation on the same thread.
    ///
    /// Only for a queue that nothing but its owner references (checked with
    /// `isKnownUniquelyReferenced`): no stale holder can then see it open again.
    func reopen() {
        lock.withLock {
            finishing = false
            closed = false
        }
    }

    /// Whether the queue has closed (finished and drained).
    var isClosed: Bool {
        lock.withLock { closed }
    }

    /// Whether a push would be accepted now: neither finishing nor closed. Once `false` it stays
    /// so (only ``reopen()``, for a queue nothing else references, undoes it).
    var acceptsWork: Bool {
        lock.withLock { !finishing && !closed }
    }

    /// How many pushes were refused because the queue was finishing or closed.
    var refusedPushes: Int {
        lock.withLock { refusals }
    }

    /// Threads idle now: parked, polling, or woken and not yet at their work.
    var idleThreads: Int {
        lock.withLock { parked.count + spinning + wakesInFlight + sleepers }
    }

    /// How many items are waiting.
    var count: Int {
        lock.withLock { items.count }
    }

    // MARK: Task executor

    /// Queues a job of a task that prefers this queue; a job that arrives after the queue closed
    /// runs on the orphan thread instead.
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if push(.taskJob(job)) != .queued {
            OrphanJobs.run(job, serial: nil, taskExecutor: asUnownedTaskExecutor())
        }
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// Runs a task job taken from this queue on the calling thread.
    @inline(__always) func runTaskJob(_ job: UnownedJob) {
        job.runSynchronously(on: asUnownedTaskExecutor())
    }
}

/// One draining thread's condition variable, used with its queue's mutex, so that the queue can
/// wake that particular thread. The thread owns it for its whole life.
///
/// Unchecked `Sendable`: `condition` is immutable and points to a condition variable (itself
/// thread-safe) freed only in `deinit`; `woken` is read and written only with the lock of the
/// ``JobQueue`` the thread drains held.
final class Parker: @unchecked Sendable {
    let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Set (under the queue's lock) by whoever wakes the thread.
    @exclusivity(unchecked)
    var woken = false

    init() {
        condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        precondition(pthread_cond_init(condition, nil) == 0, "pthread_cond_init failed")
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    @inline(__always) func signal() { pthread_cond_signal(condition) }
}
