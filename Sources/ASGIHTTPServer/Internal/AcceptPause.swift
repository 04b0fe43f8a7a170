import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Holds the thread that accepts from a handed (shared) listening socket while `limit` pieces of
/// work are under way, so that the other processes sharing the socket take the new connections,
/// as a busy gunicorn worker or PHP-FPM child does not accept. The `Gateway` runner's workers
/// count the requests on their blocking threads, a request that timed out included while its
/// handler still runs.
///
/// A thread already blocked in `accept` when the limit is reached still takes the next
/// connection: at most one connection beyond the limit per busy period.
package final class AcceptPause: @unchecked Sendable {
    // Sendable: the mutex and condition are used only through pthread calls; the rest is atomic.
    /// The work under way at which accepting pauses.
    package let limit: Int
    private let busy = Atomic<Int>(0)
    private let waiting = Atomic<Bool>(false)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// Pauses accepting while `limit` (at least 1) pieces of work are under way.
    package init(limit: Int) {
        self.limit = max(1, limit)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Work started (a request on a blocking thread).
    package func workStarted() {
        busy.wrappingAdd(1, ordering: .sequentiallyConsistent)
    }

    /// Work finished: wakes a paused accept.
    package func workFinished() {
        busy.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        guard waiting.load(ordering: .sequentiallyConsistent) else { return }
        pthread_mutex_lock(mutex)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Returns once fewer than ``limit`` pieces of work are under way, or once `stopping` says so
    /// (checked at least every 200 ms). Blocks: the accepting thread only.
    func wait(stopping: () -> Bool) {
        guard busy.load(ordering: .sequentiallyConsistent) >= limit else { return }
        pthread_mutex_lock(mutex)
        // Announced before the count is read again: work finishing after that read sees
        // `waiting` and signals (both sides sequentially consistent).
        waiting.store(true, ordering: .sequentiallyConsistent)
        while busy.load(ordering: .sequentiallyConsistent) >= limit && !stopping() {
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            deadline.tv_nsec += 200_000_000
            if deadline.tv_nsec >= 1_000_000_000 {
                deadline.tv_sec += 1
                deadline.tv_nsec -= 1_000_000_000
            }
            pthread_cond_timedwait(condition, mutex, &deadline)
        }
        waiting.store(false, ordering: .relaxed)
        pthread_mutex_unlock(mutex)
    }
}
