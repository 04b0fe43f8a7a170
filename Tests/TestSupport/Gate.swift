import Foundation
import Synchronization

/// A one-shot event that blocking threads and async code can both wait for: tests hold an
/// application or a server at a point until they open it.
///
/// Every wait is bounded (`limit`, a minute by default): a safety net so a failing test ends
/// instead of hanging a thread, never what a test asserts on.
package final class Gate: Sendable {
    private struct State {
        var open = false
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelledWaiters: Set<UInt64> = []
    }
    private let state = Mutex(State())
    private let condition = NSCondition()
    private let arrived = Atomic<Int>(0)

    package init() {}

    /// Opens the gate and wakes every waiter; later waits return at once.
    package func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        condition.lock()
        condition.broadcast()
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    /// Whether the gate is open.
    package var isOpen: Bool { state.withLock { $0.open } }

    /// How many waits reached the gate (open or not).
    package var arrivals: Int { arrived.load(ordering: .relaxed) }

    /// Blocks the calling thread (never a cooperative one) until the gate opens or `limit`
    /// passes; whether it opened.
    @discardableResult
    package func waitBlocking(limit: Duration = .seconds(60)) -> Bool {
        arrived.add(1, ordering: .relaxed)
        let (seconds, attoseconds) = limit.components
        let deadline = Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while !isOpen {
            if !condition.wait(until: deadline) { return isOpen }
        }
        return true
    }

    /// Suspends until the gate opens or `limit` passes; whether it opened.
    @discardableResult
    package func wait(limit: Duration = .seconds(60)) async -> Bool {
        arrived.add(1, ordering: .relaxed)
        if isOpen { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitUntilOpen()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || self.isOpen
        }
    }

    /// Suspends until the gate opens or the task is cancelled.
    private func waitUntilOpen() async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.open || state.cancelledWaiters.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelledWaiters.insert(id)
                return nil
            }
            waiter?.resume()
        }
    }
}
