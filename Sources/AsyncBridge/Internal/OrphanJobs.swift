/// Runs Swift jobs that reached an executor after it quit.
///
/// A task keeps its executor preference; should one of its jobs arrive after the executor's
/// thread has stopped draining, the job still has to run somewhere, in order. It runs here, on one
/// serial fallback thread, still reporting the executor it was meant for (whose thread is gone, so
/// isolation holds).
enum OrphanJobs {
    private final class OrphanJob: WorkItem, Sendable {
        let job: UnownedJob
        let serial: UnownedSerialExecutor?
        let task: UnownedTaskExecutor
        init(job: UnownedJob, serial: UnownedSerialExecutor?, task: UnownedTaskExecutor) {
            self.job = job
            self.serial = serial
            self.task = task
        }
        func run() {
            if let serial {
                job.runSynchronously(isolatedTo: serial, taskExecutor: task)
            } else {
                job.runSynchronously(on: task)
            }
        }
    }

    private static let thread = WorkerThread(name: "asgi-orphans")

    /// Runs `job` on the orphan thread, isolated to `serial` if it was queued on a serial executor,
    /// and reporting `taskExecutor` as its task executor.
    static func run(_ job: UnownedJob, serial: UnownedSerialExecutor?, taskExecutor: UnownedTaskExecutor) {
        _ = thread.submit(OrphanJob(job: job, serial: serial, task: taskExecutor))
    }
}
