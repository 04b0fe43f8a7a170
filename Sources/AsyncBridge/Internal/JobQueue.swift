import DequeModule

/// A unit of blocking work the bridge hands to a thread.
///
/// Bridge calls are classes that conform to this, so queuing one costs no extra allocation.
protocol WorkItem: AnyObject, Sendable {
    /// Runs the work on the thread that dequeued it.
    func run()
}

/// What a bridge thread's queue holds: a blocking work item or a Swift task's job.
enum QueuedWork: @unchecked Sendable {
    case item(any WorkItem)
    case job(UnownedJob)
}

/// A FIFO queue of work drained by one or more threads, which sleep while it is empty.
///
/// A queue can be *finished*: it refuses every later push, still hands out what it holds, and once
/// it is empty it closes for good. A push therefore succeeds exactly when the work will run, which
/// is how the bridge never uses an executor that has quit.
final class JobQueue: @unchecked Sendable {
    private let lock = ConditionLock()
    private var items = Deque<QueuedWork>()
    private var sleepers = 0
    private var finishing = false
    private var closed = false
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
    }

    /// Appends work; wakes a sleeping thread if there is one.
    @discardableResult
    func push(_ work: QueuedWork) -> PushResult {
        lock.lock()
        if closed || finishing {
            lock.unlock()
            return .closed
        }
        if let limit, items.count >= limit {
            lock.unlock()
            return .full
        }
        items.append(work)
        let wake = sleepers > 0
        lock.unlock()
        if wake { lock.signal() }
        return .queued
    }

    /// The next piece of work, sleeping while there is none.
    ///
    /// Returns `nil` once the queue is finished and empty; the queue is then closed.
    func next() -> QueuedWork? {
        lock.lock()
        while items.isEmpty {
            if finishing {
                closed = true
                lock.unlock()
                lock.broadcast()
                return nil
            }
            sleepers += 1
            lock.wait()
            sleepers -= 1
        }
        let work = items.removeFirst()
        lock.unlock()
        return work
    }

    /// Asks the draining threads to stop once the queue is empty.
    func finish() {
        lock.lock()
        finishing = true
        let wake = sleepers > 0
        lock.unlock()
        if wake { lock.broadcast() }
    }

    /// Whether the queue has closed (finished and drained).
    var isClosed: Bool {
        lock.withLock { closed }
    }

    /// How many items are waiting.
    var count: Int {
        lock.withLock { items.count }
    }
}
