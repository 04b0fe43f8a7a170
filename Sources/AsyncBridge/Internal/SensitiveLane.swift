import Synchronization

/// The thread-sensitive route of one ``ThreadSensitiveContext`` (or of the whole process): a
/// dedicated thread that accepts work while the lane is open.
///
/// When a context ends, its lane closes: work still queued runs, then the thread goes back to the
/// idle set for the next context. Calls that arrive after closing (from tasks that outlived the
/// context) are refused, and the bridge routes them as if there were no context.
final class SensitiveLane: WorkItem, Sendable {
    let thread: WorkerThread
    /// The bound the lane's context counts against (`nil` for the process lane); its permit goes
    /// back once the lane has drained.
    private let limit: ContextThreadLimit?
    private let open = Mutex(true)

    init(thread: WorkerThread, limit: ContextThreadLimit? = nil) {
        self.thread = thread
        self.limit = limit
    }

    /// Whether the lane still accepts work (its context has not ended).
    var isOpen: Bool { open.withLock { $0 } }

    /// Queues `item` if the lane is open.
    func submit(_ item: any WorkItem) -> Bool {
        open.withLock { open in
            open && thread.submit(item) == .queued
        }
    }

    /// Closes the lane: once the work queued before has run, its thread goes back to the idle set
    /// and its permit back to its limit (on the thread itself).
    func close() {
        open.withLock { open in
            open = false
            // The lane itself is the last work item: no closure to allocate per context.
            if thread.submit(self) != .queued { run() }
        }
    }

    /// Runs after the lane's last work: gives its thread and its permit back.
    func run() {
        DedicatedThreads.release(thread)
        limit?.release()
    }

    /// The lane every thread-sensitive call uses when nothing closer applies.
    static let process = SensitiveLane(thread: WorkerThread(name: "asgi-sensitive"))
}

/// Idle dedicated threads, reused by ``ThreadSensitiveContext`` and ``AsyncSingleThreadContext``
/// so that entering a context does not create a thread each time.
enum DedicatedThreads {
    /// At most this many idle threads are kept; extra ones exit.
    static let idleLimit = 16
    private static let idle = Mutex<[WorkerThread]>([])
    private static let created = Atomic<Int>(0)

    static func acquire() -> WorkerThread {
        if let thread = idle.withLock({ $0.popLast() }) { return thread }
        let number = created.add(1, ordering: .relaxed).newValue
        return WorkerThread(name: "asgi-context-\(number)")
    }

    /// Returns a thread whose queue is empty (call it from the thread itself, after its work).
    static func release(_ thread: WorkerThread) {
        let kept = idle.withLock { idle -> Bool in
            guard idle.count < idleLimit else { return false }
            idle.append(thread)
            return true
        }
        if !kept { thread.shutdown() }
    }
}
