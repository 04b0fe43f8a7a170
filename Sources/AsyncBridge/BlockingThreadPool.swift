import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A bounded pool of named threads for blocking work that does not need a particular thread.
///
/// Non-thread-sensitive bridge calls run here. The threads start on first use and never exceed
/// `threads`; work beyond that waits in a FIFO queue of at most `queueLimit` items, past which the
/// bridge call fails with ``BridgeError/queueFull`` instead of growing without bound.
///
/// A thread that runs out of work polls the queue for a few microseconds before it sleeps (one
/// thread at a time; `ASGI_POOL_SPIN` sets the polling rounds, default 2,000, 0 turns it off), and
/// a call queued while no thread polls or is being woken wakes one sleeping thread, which wakes the
/// next if more work waits. Under a steady stream of small calls most of them are then taken
/// without a sleep and a wake-up, which cost more than a small call itself.
///
/// Nested calls never starve the pool. A non-thread-sensitive call made below an ``asyncToSync(_:)``
/// that blocks one of this pool's threads (sync → async → sync) is queued only if a thread that is
/// idle at that moment will take it; otherwise it runs on the blocked thread itself, which waits for
/// exactly that work. So a pool whose every thread waits on such a nested call still makes progress,
/// with no thread added; the call keeps its own `Local` scope and its cancellation.
///
/// ```swift
/// let pool = BlockingThreadPool(threads: 4, queueLimit: 1_000)
/// let rows = try await SyncToAsync.run(threadSensitive: false, executor: pool) { try db.query() }
/// ```
public final class BlockingThreadPool: BlockingExecutor, Sendable {
    /// The process-wide default pool: `ASGI_THREADS` threads if that environment variable holds a
    /// positive number, else `max(8, 2 × active processors)`; queue limit 65,536.
    public static let shared = BlockingThreadPool(
        threads: defaultThreadCount,
        queueLimit: 65_536,
        name: "asgi-blocking"
    )

    /// The most threads the pool runs.
    public let threads: Int
    /// The most work items that wait for a thread (`nil`: no limit).
    public let queueLimit: Int?

    let name: String
    let queue: JobQueue
    private let started = Atomic<Bool>(false)
    private let startLock = Mutex<Int>(0)

    /// Creates a pool.
    /// - Parameters:
    ///   - threads: the number of threads (at least 1).
    ///   - queueLimit: how many items may wait for a thread; `nil` for no limit.
    ///   - name: the threads' name prefix, as `top -H` and debuggers show it.
    public init(threads: Int, queueLimit: Int? = nil, name: String = "asgi-pool") {
        precondition(threads >= 1, "BlockingThreadPool needs at least one thread")
        precondition(queueLimit.map { $0 >= 1 } ?? true, "BlockingThreadPool queueLimit must be positive")
        self.threads = threads
        self.queueLimit = queueLimit
        self.name = name
        self.queue = JobQueue(limit: queueLimit)
    }

    /// The number of threads started so far (at most ``threads``).
    public var startedThreads: Int {
        startLock.withLock { $0 }
    }

    /// How many work items wait for a thread right now (a gauge for metrics; it changes as you read it).
    public var queuedJobs: Int {
        queue.count
    }

    deinit {
        queue.finish()
    }

    /// Runs `work` on a pool thread, in a `Local` scope of its own (so nothing it sets is seen by
    /// later work on the same thread).
    /// - Throws: ``BridgeError/queueFull`` or ``BridgeError/executorShutDown``.
    public func execute(_ work: @escaping @Sendable () -> Void) throws {
        try submit(
            ClosureWork {
                var state = BridgeState()
                state.locals = LocalStorage(owner: .current, values: [:])
                BridgeState.$current.withValue(state, operation: work)
            }
        )
    }

    /// Lets the threads exit once the queued work has run; later work is refused.
    public func shutdown() {
        queue.finish()
    }

    func submit(_ item: any WorkItem) throws {
        if !started.load(ordering: .acquiring) { startThreads() }
        switch queue.push(.item(item)) {
        case .queued, .noIdleThread: return
        case .full: throw BridgeError.queueFull
        case .closed: throw BridgeError.executorShutDown
        }
    }

    /// Queues `item` only if a thread idle now will take it; `false` (nothing queued) when every
    /// thread is busy.
    /// - Throws: ``BridgeError/executorShutDown``.
    func submitToIdleThread(_ item: any WorkItem) throws -> Bool {
        if !started.load(ordering: .acquiring) { startThreads() }
        switch queue.pushToIdleThread(.item(item)) {
        case .queued: return true
        case .noIdleThread, .full: return false
        case .closed: throw BridgeError.executorShutDown
        }
    }

    /// The queue of the pool the calling thread belongs to, if it is a pool thread.
    static func queueOfCurrentThread() -> UnsafeMutableRawPointer? {
        pthread_getspecific(memberKey)
    }

    /// A pool thread's pool (its queue, unretained: the thread holds the queue for its whole life).
    private static let memberKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    private func startThreads() {
        startLock.withLock { count in
            guard count == 0 else { return }
            for index in 0..<threads {
                let queue = self.queue
                startBridgeThread(name: "\(name)-\(index)") {
                    pthread_setspecific(Self.memberKey, Unmanaged.passUnretained(queue).toOpaque())
                    // A binding for the thread's whole life keeps the runtime's per-thread
                    // task-local storage alive (see WorkerThread).
                    BridgeState.$current.withValue(BridgeState()) {
                        // Woken last-in first-out, so sequential calls stay on one warm thread.
                        let parker = Parker()
                        while let work = queue.next(parker: parker) {
                            if case .item(let item) = work { item.run() }
                        }
                    }
                }
            }
            count = threads
            started.store(true, ordering: .releasing)
        }
    }

    static var defaultThreadCount: Int {
        if let raw = getenv("ASGI_THREADS"), let value = Int(String(cString: raw)), value > 0 {
            return value
        }
        return max(8, 2 * activeProcessorCount)
    }

    static var activeProcessorCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// A closure as a queued work item.
final class ClosureWork: WorkItem {
    let work: @Sendable () -> Void
    init(_ work: @escaping @Sendable () -> Void) { self.work = work }
    func run() { work() }
}
