import DequeModule
import Synchronization

/// A queue between tasks: any task puts, one task at a time takes, suspending while it is empty.
///
/// `take()` returns `nil` once the mailbox is closed and empty, or when the taking task is cancelled.
final class Mailbox<Element: Sendable>: Sendable {
    private struct State {
        var buffer = Deque<Element>()
        var waiter: CheckedContinuation<Element?, Never>?
        var closed = false
    }

    private let state = Mutex(State())

    /// Adds an element, waking the waiting taker if there is one. Ignored once closed.
    func put(_ element: Element) {
        let waiter: CheckedContinuation<Element?, Never>? = state.withLock { state in
            guard !state.closed else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.buffer.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// Refuses later elements; a waiting taker gets `nil`.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next element, waiting for one; `nil` when closed and empty or when cancelled.
    func take() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
                let immediate: Element?? = state.withLock { state in
                    if let element = state.buffer.popFirst() { return .some(element) }
                    if state.closed || Task.isCancelled { return .some(nil) }
                    precondition(state.waiter == nil, "Mailbox has one taker at a time")
                    state.waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
