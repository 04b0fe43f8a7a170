import Synchronization

/// The server's counters, updated by the workers and the watchdog without locks.
final class ServerCounters: Sendable {
    let acceptedRequests = Atomic<Int>(0)
    let acceptedConnections = Atomic<Int>(0)
    let activeWorkers = Atomic<Int>(0)
    let maxActiveWorkers = Atomic<Int>(0)
    let maxActiveReached = Atomic<Int>(0)
    let slowRequests = Atomic<Int>(0)
    let timedOutRequests = Atomic<Int>(0)
    let abortedRequests = Atomic<Int>(0)
    let rejectedRequests = Atomic<Int>(0)
    let maxListenQueue = Atomic<Int>(0)

    /// A request started on a worker: counts it, and whether every worker is now busy.
    func requestStarted(totalWorkers: Int) {
        acceptedRequests.add(1, ordering: .relaxed)
        let active = activeWorkers.add(1, ordering: .relaxed).newValue
        raise(maxActiveWorkers, to: active)
        if active >= totalWorkers { maxActiveReached.add(1, ordering: .relaxed) }
    }

    func requestEnded() {
        activeWorkers.subtract(1, ordering: .relaxed)
    }

    func observeListenQueue(_ depth: Int?) {
        if let depth { raise(maxListenQueue, to: depth) }
    }

    private func raise(_ counter: borrowing Atomic<Int>, to value: Int) {
        var current = counter.load(ordering: .relaxed)
        while value > current {
            let (exchanged, original) = counter.compareExchange(expected: current, desired: value, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
