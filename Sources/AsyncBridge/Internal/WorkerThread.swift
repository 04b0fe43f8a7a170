/// A dedicated thread that runs queued blocking work and Swift jobs in order.
///
/// Thread-sensitive calls with no `asyncToSync` above them run on one of these: the process-wide
/// sensitive thread, or the thread of a ``ThreadSensitiveContext``. ``AsyncSingleThreadContext``
/// uses one as the executor of every `asyncToSync` body inside it.
final class WorkerThread: TaskExecutor, SerialExecutor, @unchecked Sendable {
    let queue = JobQueue()
    let name: String

    init(name: String) {
        self.name = name
        // The thread keeps the executor alive until it has been shut down and drained.
        startBridgeThread(name: name) { [self] in
            while let work = queue.next() {
                perform(work)
            }
        }
    }

    @inline(__always) func perform(_ work: QueuedWork) {
        switch work {
        case .item(let item):
            item.run()
        case .job(let job):
            job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        }
    }

    /// Queues work; refused (`.closed`) once the thread has been shut down.
    @inline(__always) func submit(_ item: any WorkItem) -> JobQueue.PushResult {
        queue.push(.item(item))
    }

    /// Lets the thread exit once everything queued so far has run.
    func shutdown() {
        queue.finish()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if queue.push(.job(job)) != .queued {
            OrphanJobs.run(job, isolatedTo: self)
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}
