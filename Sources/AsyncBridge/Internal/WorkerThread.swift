/// A dedicated thread that runs queued blocking work and Swift jobs in order.
///
/// Thread-sensitive calls with no `asyncToSync` above them run on one of these: the process-wide
/// sensitive thread, or the thread of a ``ThreadSensitiveContext``. ``AsyncSingleThreadContext``
/// uses one for every `asyncToSync` body inside it: the bodies' tasks prefer its ``queue`` as their
/// task executor.
final class WorkerThread: Sendable {
    let queue = JobQueue()
    let name: String

    init(name: String) {
        self.name = name
        // The thread keeps the object alive until it has been shut down and drained.
        startBridgeThread(name: name) { [self] in
            // One binding for the thread's whole life keeps the runtime's per-thread task-local
            // storage alive, so the binding each sync body makes (SyncCall.run) costs one
            // allocation instead of two.
            BridgeState.$current.withValue(BridgeState()) {
                while let work = queue.next() {
                    switch work {
                    case .item(let item):
                        item.run()
                    case .taskJob(let job), .job(let job):
                        // Only task jobs reach this queue (nothing uses the thread as a serial executor).
                        queue.runTaskJob(job)
                    }
                }
            }
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
}
