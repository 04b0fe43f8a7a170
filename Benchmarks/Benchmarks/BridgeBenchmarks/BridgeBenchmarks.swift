// Benchmarks for the AsyncBridge sync/async crossings.
//
// Every sample performs `scalingFactor` (1,000) crossings, so the scaled figures the tool prints
// (marked `*`) are per crossing. Run with `swift package benchmark` from this directory.

import AsyncBridge
import Benchmark
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        // Per-crossing figures are often below a microsecond; nanoseconds keep their precision.
        timeUnits: .nanoseconds,
        // Plain counts, so `--scale` (per-sample figures) shows exact mallocs per 1,000 crossings.
        units: [.mallocCountTotal: .count],
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(4),
        maxIterations: 200,
        // `make benchmark-check` compares the p90 with Thresholds/ (see README.md): gross
        // regressions only. A crossing allocates more when the thread it wakes is asleep (the
        // thread-sensitive path's mallocs were 51% apart between two runs here); a shared 2-core
        // machine moved a wall clock 7x between runs.
        thresholds: [
            .wallClock: .init(relative: [.p90: 1000]),
            .mallocCountTotal: .init(relative: [.p90: 75]),
        ]
    )

    // Long-lived plain threads, started once, outside any measurement.
    let driver = PlainThread(name: "bench-driver")
    let pingPong = PingPong()

    // 1. Baseline: what users call today to run blocking code from async code.
    Benchmark("1 NIOThreadPool.runIfActive (baseline)") { benchmark async throws in
        let pool = NIOThreadPool.singleton
        for _ in benchmark.scaledIterations {
            blackHole(try await pool.runIfActive { 1 })
        }
    }

    // 2. Physical floor: one mutex+condvar round trip between two plain threads.
    Benchmark("2 Condvar ping-pong, 2 pthreads (floor)") { benchmark async throws in
        let count = benchmark.scaledIterations.count
        try await driver.run {
            for _ in 0..<count {
                pingPong.roundTrip()
            }
        }
    }

    // 3. SyncToAsync.run from a task, thread-sensitive (the default) and not.
    Benchmark("3a SyncToAsync.run (threadSensitive)") { benchmark async throws in
        for _ in benchmark.scaledIterations {
            blackHole(try await SyncToAsync.run { 1 })
        }
    }

    Benchmark("3b SyncToAsync.run (threadSensitive: false)") { benchmark async throws in
        for _ in benchmark.scaledIterations {
            blackHole(try await SyncToAsync.run(threadSensitive: false) { 1 })
        }
    }

    // 4. A wrapper built once and called per iteration.
    let increment = syncToAsync { (x: Int) in x + 1 }
    Benchmark("4 syncToAsync wrapper, reused") { benchmark async throws in
        for _ in benchmark.scaledIterations {
            blackHole(try await increment(1))
        }
    }

    // 5. AsyncToSync.run from a plain thread (it throws if called from a task).
    Benchmark("5 AsyncToSync.run (plain thread)") { benchmark async throws in
        let count = benchmark.scaledIterations.count
        try await driver.run {
            for _ in 0..<count {
                blackHole(try AsyncToSync.run { 1 })
            }
        }
    }

    // 6a. sync → async → sync: the inner thread-sensitive call comes back to the calling thread.
    Benchmark("6a AsyncToSync{SyncToAsync} (plain thread)") { benchmark async throws in
        let count = benchmark.scaledIterations.count
        try await driver.run {
            for _ in 0..<count {
                blackHole(try AsyncToSync.run { try await SyncToAsync.run { 1 } })
            }
        }
    }

    // 6b. async → sync → async round trip, started from a task.
    Benchmark("6b SyncToAsync{AsyncToSync} (task)") { benchmark async throws in
        for _ in benchmark.scaledIterations {
            blackHole(try await SyncToAsync.run { try AsyncToSync.run { 1 } })
        }
    }

    // 7. A one-minute timeout around a body that returns at once, as a request timeout wraps a
    // fast request: the deadline must cost nothing once the body has returned (resident memory).
    Benchmark(
        "7 withTimeout(60 s) around an immediate body",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal, .throughput, .peakMemoryResident])
    ) { benchmark async throws in
        for _ in benchmark.scaledIterations {
            blackHole(try await withTimeout(.seconds(60)) { 1 })
        }
    }

    // 8. A thread-sensitive context with one call in it, as `WSGIToASGI(threadSensitive: true)`
    // runs each request: entering takes a thread from the idle set under the context thread limit.
    Benchmark("8 ThreadSensitiveContext.run{SyncToAsync} (task)") { benchmark async throws in
        for _ in benchmark.scaledIterations {
            blackHole(try await ThreadSensitiveContext.run { try await SyncToAsync.run { 1 } })
        }
    }
}

// MARK: - Plain-thread helpers

/// A mutex and a condition variable, as raw pthread objects (no Foundation, no bridge code).
final class PThreadCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits on the condition; call with the mutex held.
    func wait() { pthread_cond_wait(condition, mutex) }
    func signal() { pthread_cond_signal(condition) }
}

/// Starts a detached plain pthread running `body`.
func startPlainThread(_ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let argument = Unmanaged.passRetained(Box(body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    #if canImport(Darwin)
    var thread: pthread_t? = nil
    #else
    var thread = pthread_t()
    #endif
    let rc = pthread_create(
        &thread,
        &attributes,
        { argument in
            #if canImport(Darwin)
            let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
            #else
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            #endif
            box.body()
            return nil
        },
        argument
    )
    precondition(rc == 0, "pthread_create failed: \(rc)")
}

/// A long-lived plain thread (never inside a Swift task) that runs submitted jobs one at a time.
///
/// Async benchmark closures hand it a loop of N blocking calls and await its completion, so the
/// per-sample hand-off cost is amortised over the N calls.
final class PlainThread: @unchecked Sendable {
    private let condition = PThreadCondition()
    private var jobs: [@Sendable () -> Void] = []

    init(name: String) {
        startPlainThread { [self] in
            #if canImport(Glibc) || canImport(Musl)
            _ = setThreadName(pthread_self(), String(name.utf8.prefix(15))!)
            #endif
            self.loop()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on the plain thread and returns what it returns (or throws).
    func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
            condition.lock()
            jobs.append { continuation.resume(with: Result(catching: body)) }
            condition.signal()
            condition.unlock()
        }
    }
}

#if canImport(Glibc) || canImport(Musl)
/// glibc's `pthread_setname_np`, which the Glibc module hides behind `_GNU_SOURCE`.
@_silgen_name("pthread_setname_np")
private func setThreadName(_ thread: pthread_t, _ name: UnsafePointer<CChar>) -> Int32
#endif

/// Two plain threads handing a token back and forth through one mutex and two condition variables.
///
/// ``roundTrip()`` (called from one plain thread) wakes the partner thread and sleeps until it
/// answers: two wake-ups per round trip, like a sync→async→sync bridge crossing with a thread hop.
final class PingPong: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let pinged = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let ponged = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var requests = 0
    private var responses = 0

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(pinged, nil)
        pthread_cond_init(ponged, nil)
        startPlainThread { [self] in self.serve() }
    }

    private func serve() {
        pthread_mutex_lock(mutex)
        while true {
            while responses == requests { pthread_cond_wait(pinged, mutex) }
            responses = requests
            pthread_cond_signal(ponged)
        }
    }

    func roundTrip() {
        pthread_mutex_lock(mutex)
        requests += 1
        let ticket = requests
        pthread_cond_signal(pinged)
        while responses < ticket { pthread_cond_wait(ponged, mutex) }
        pthread_mutex_unlock(mutex)
    }
}
