#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Deadlines that cost nothing once cancelled: one heap of pending deadlines and one thread of the
/// library's own that wakes at the earliest and resumes whoever waits for it.
///
/// `Task.sleep` keeps a cancelled sleeper's memory (its task, with its allocator) until the
/// original deadline passes, so a per-request timeout built on it holds about a kilobyte per
/// finished request for the whole timeout (gigabytes under load with a one-minute timeout). Here
/// cancelling a sleep removes its entry from the heap and resumes the sleeper at once: nothing of it
/// remains.
///
/// The thread sleeps until the earliest deadline and is woken only when a new deadline comes
/// before the one it sleeps towards; with one timeout for every request that is about once per
/// timeout period, not once per request. Cancelling never wakes it.
///
/// Unchecked `Sendable`: `heap`, `wakeAt`, `stopped` (and the ``TimerEntry`` fields in the heap) are
/// read and written only with `mutex` held; `mutex` and `condition` are immutable pointers to
/// pthread primitives freed only in `deinit`. (A `Mutex` cannot serve: the thread sleeps on the
/// condition variable with this lock.)
final class DeadlineTimers: @unchecked Sendable {
    /// The process-wide timers (their thread starts on first use).
    static let shared = DeadlineTimers(name: "asgi-timers")

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    @exclusivity(unchecked)
    private var heap = TimerHeap()
    /// The deadline the thread sleeps towards (`UInt64.max`: none); a new entry due earlier wakes it.
    @exclusivity(unchecked)
    private var wakeAt = UInt64.max
    @exclusivity(unchecked)
    private var stopped = false

    init(name: String) {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        #if canImport(Darwin)
        precondition(pthread_cond_init(condition, nil) == 0, "pthread_cond_init failed")
        #else
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        precondition(pthread_cond_init(condition, &attributes) == 0, "pthread_cond_init failed")
        pthread_condattr_destroy(&attributes)
        #endif
        // The thread holds the object until it has been stopped.
        startBridgeThread(name: name) { [self] in run() }
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Monotonic time in nanoseconds (the clock the thread sleeps on).
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Suspends until `duration` has passed.
    /// - Throws: `CancellationError` as soon as the calling task is cancelled (its entry is gone
    ///   by then).
    func sleep(for duration: Duration) async throws {
        try await sleep(TimerEntry(deadline: Self.deadline(after: duration)))
    }

    /// Suspends until `entry`'s deadline; as ``sleep(for:)``.
    func sleep(_ entry: TimerEntry) async throws {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                schedule(entry, continuation)
            }
        } onCancel: {
            cancel(entry)
        }
    }

    /// How many deadlines are pending.
    var pendingCount: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return heap.count
    }

    /// How many pending deadlines are due after `instant` (nanoseconds of ``now()``).
    func pendingCount(dueAfter instant: UInt64) -> Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return heap.count { $0.deadline > instant }
    }

    /// Stops the thread; pending sleepers are resumed with `CancellationError`. For instances of
    /// tests: the shared one runs for the life of the process.
    func stop() {
        pthread_mutex_lock(mutex)
        stopped = true
        var sleepers: [UnsafeContinuation<Void, any Error>] = []
        while let entry = heap.popFirst() {
            if let continuation = entry.continuation { sleepers.append(continuation) }
            entry.continuation = nil
        }
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        for sleeper in sleepers { sleeper.resume(throwing: CancellationError()) }
    }

    // MARK: Internals

    private static func deadline(after duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        let nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanos.overflow else { return seconds < 0 ? now() : .max }
        let total = nanos.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000)
        guard !total.overflow else { return .max }
        guard total.partialValue > 0 else { return now() }
        let sum = now().addingReportingOverflow(UInt64(total.partialValue))
        return sum.overflow ? .max : sum.partialValue
    }

    private func schedule(_ entry: TimerEntry, _ continuation: UnsafeContinuation<Void, any Error>) {
        pthread_mutex_lock(mutex)
        guard !entry.cancelled, !stopped else {
            pthread_mutex_unlock(mutex)
            continuation.resume(throwing: CancellationError())
            return
        }
        entry.continuation = continuation
        heap.insert(entry)
        let wake = entry.deadline < wakeAt
        if wake { wakeAt = entry.deadline }
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
    }

    private func cancel(_ entry: TimerEntry) {
        pthread_mutex_lock(mutex)
        entry.cancelled = true
        heap.remove(entry)
        let continuation = entry.continuation
        entry.continuation = nil
        // The thread may still sleep towards this entry's deadline: it then wakes once, finds
        // nothing due, and sleeps towards the next one. Waking it now would cost a wake-up per
        // finished request.
        pthread_mutex_unlock(mutex)
        continuation?.resume(throwing: CancellationError())
    }

    private func run() {
        pthread_mutex_lock(mutex)
        while !stopped {
            let now = Self.now()
            if let first = heap.first, first.deadline <= now {
                heap.remove(first)
                let continuation = first.continuation
                first.continuation = nil
                pthread_mutex_unlock(mutex)
                continuation?.resume()
                pthread_mutex_lock(mutex)
                continue
            }
            wakeAt = heap.first?.deadline ?? .max
            if wakeAt == .max {
                pthread_cond_wait(condition, mutex)
            } else {
                wait(until: wakeAt, now: now)
            }
        }
        pthread_mutex_unlock(mutex)
    }

    /// Sleeps on the condition until `deadline` (monotonic nanoseconds) or a signal.
    private func wait(until deadline: UInt64, now: UInt64) {
        #if canImport(Darwin)
        let delay = deadline - now
        var relative = timespec(tv_sec: Int(delay / 1_000_000_000), tv_nsec: Int(delay % 1_000_000_000))
        _ = pthread_cond_timedwait_relative_np(condition, mutex, &relative)
        #else
        // Far deadlines are capped: the thread wakes, finds nothing due and sleeps again.
        let capped = min(deadline, now + 3_600 * 1_000_000_000)
        var absolute = timespec(tv_sec: Int(capped / 1_000_000_000), tv_nsec: Int(capped % 1_000_000_000))
        _ = pthread_cond_timedwait(condition, mutex, &absolute)
        #endif
    }
}
