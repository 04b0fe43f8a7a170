#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex paired with a condition variable, in one allocation at a stable address.
///
/// The bridge's queues sleep on this when they have no work; `Synchronization.Mutex` has no
/// condition variable, and Foundation's `NSCondition` would pull Foundation into the core. It is a
/// struct over one heap block so that a queue costs one allocation for both; its owner calls
/// ``destroy()`` exactly once, in its `deinit`.
///
/// Unchecked `Sendable`: it holds only two immutable pointers to a pthread mutex and condition
/// variable (thread-safe primitives), and the memory stays valid until ``destroy()``, which its
/// owner calls in `deinit`, when no other thread can reach the lock.
package struct ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    package init() {
        let mutexSize = MemoryLayout<pthread_mutex_t>.stride
        let conditionOffset =
            (mutexSize + MemoryLayout<pthread_cond_t>.alignment - 1)
            / MemoryLayout<pthread_cond_t>.alignment * MemoryLayout<pthread_cond_t>.alignment
        let block = UnsafeMutableRawPointer.allocate(
            byteCount: conditionOffset + MemoryLayout<pthread_cond_t>.size,
            alignment: max(MemoryLayout<pthread_mutex_t>.alignment, MemoryLayout<pthread_cond_t>.alignment)
        )
        mutex = block.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        condition = (block + conditionOffset).bindMemory(to: pthread_cond_t.self, capacity: 1)
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        precondition(pthread_cond_init(condition, nil) == 0, "pthread_cond_init failed")
    }

    /// Releases the mutex, the condition and their memory.
    package func destroy() {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        UnsafeMutableRawPointer(mutex).deallocate()
    }

    @inline(__always) package func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) package func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits for a signal; the lock must be held and is held again on return.
    @inline(__always) package func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits on another condition variable with this mutex; the lock must be held and is held again
    /// on return.
    @inline(__always) func wait(on other: UnsafeMutablePointer<pthread_cond_t>) { pthread_cond_wait(other, mutex) }

    /// Wakes one waiter.
    @inline(__always) package func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiter.
    @inline(__always) package func broadcast() { pthread_cond_broadcast(condition) }

    @inline(__always) package func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
