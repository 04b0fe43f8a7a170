/// Runs Swift jobs that reached an executor after it quit.
///
/// A task keeps its executor preference; should one of its jobs arrive after the executor's
/// thread has stopped draining, the job still has to run somewhere, in order. It runs here, on one
/// serial fallback thread, still reporting the executor it was meant for (whose thread is gone, so
/// isolation holds).
enum OrphanJobs {
    private final class OrphanJob: WorkItem, @unchecked Sendable {
        let job: UnownedJob
        let serial: UnownedSerialExecutor
        let task: UnownedTaskExecutor
        init(job: UnownedJob, serial: UnownedSerialExecutor, task: UnownedTaskExecutor) {
            self.job = job
            self.serial = serial
            self.task = task
        }
        func run() {
            job.runSynchronously(isolatedTo: serial, taskExecutor: task)
        }
    }

    private static let thread = WorkerThread(name: "asgi-orphans")

    static func run(_ job: UnownedJob, isolatedTo executor: some TaskExecutor & SerialExecutor) {
        let item = OrphanJob(job: job, serial: executor.asUnownedSerialExecutor(), task: executor.asUnownedTaskExecutor())
        _ = thread.submit(item)
    }
}
