import NIOCore

/// Runs Swift tasks on a SwiftNIO event loop: a connection's task (and the application's code in
/// it) then runs on the thread that reads and writes its socket, as an asyncio server runs its
/// handlers on its loop. Each request then costs no thread wake-up between the loop and Swift's
/// cooperative pool.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute {
            job.runSynchronously(on: executor)
        }
    }
}

/// One ``EventLoopTaskExecutor`` per event loop of a group.
struct EventLoopTaskExecutors: Sendable {
    private let executors: [ObjectIdentifier: EventLoopTaskExecutor]

    init(_ group: any EventLoopGroup) {
        var executors: [ObjectIdentifier: EventLoopTaskExecutor] = [:]
        for eventLoop in group.makeIterator() {
            executors[ObjectIdentifier(eventLoop)] = EventLoopTaskExecutor(eventLoop)
        }
        self.executors = executors
    }

    /// The executor of `eventLoop`, or `nil` for a loop outside the group.
    func executor(for eventLoop: any EventLoop) -> EventLoopTaskExecutor? {
        executors[ObjectIdentifier(eventLoop)]
    }
}
