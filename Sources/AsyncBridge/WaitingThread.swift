#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread of an ``AsyncToSync`` call, seen from the async code it runs: a thread that may
/// block, and that waits for that code anyway.
///
/// Async code that `asyncToSync` runs (an ASGI application under a blocking frontend's worker
/// thread) runs on the blocked caller's thread, which drains its ``CurrentThreadExecutor``. Blocking
/// work that such code starts and then only waits for need not wake a pool thread: queued on this
/// thread, it runs there as soon as the async code suspends, with no thread switch at all. The
/// library's adapters (`WSGIToASGI`) use this; it is not public API.
///
/// Blocking work queued here must never wait with a plain sleep for async code of the same thread
/// (that code could only run once the work returns): it waits with ``runQueuedWork()``, which runs
/// the thread's queued work while it waits.
package struct WaitingThread: Sendable {
    let executor: CurrentThreadExecutor

    /// The `asyncToSync` thread that runs the calling code, if the calling code runs on one whose
    /// executor still accepts work; `nil` on Swift's cooperative pool or any other thread.
    package static var current: WaitingThread? {
        guard let executor = CurrentThreadExecutor.draining, executor.isLive else { return nil }
        return WaitingThread(executor: executor)
    }

    /// Whether the calling code runs on this thread.
    package var isCurrent: Bool {
        pthread_equal_(executor.thread, currentThreadID())
    }

    /// From blocking code running on this thread: runs the next piece of the thread's queued work
    /// (sleeping until some is queued, or until ``wake()``), then returns so that the caller can
    /// check what it waits for. Returns `false`, having run nothing, once the thread's
    /// `asyncToSync` operation has ended (no work will come any more), or when called from another
    /// thread.
    package func runQueuedWork() -> Bool {
        guard isCurrent else { return false }
        return executor.runNext()
    }

    /// Makes a ``runQueuedWork()`` sleeping on this thread return (from any thread), so that its
    /// caller checks again what it waits for.
    package func wake() {
        _ = executor.queue.push(.item(NoWork.shared))
    }
}

/// A queued item that does nothing: it only wakes the thread that drains the queue.
private final class NoWork: WorkItem {
    static let shared = NoWork()
    func run() {}
}
