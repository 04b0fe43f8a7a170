import Synchronization

/// An unbounded first-in first-out queue between tasks: `push` from anywhere, `pop` from async code.
///
/// It is the `receive` side of application instances (``StatelessServer``, the test communicators)
/// and the output side of the test communicators. Beyond a plain queue it has two endings:
///
/// - ``setTerminal(_:)``: once the buffer is empty, every `pop` returns the terminal element without
///   consuming it. Servers use it for "`http.disconnect` from now on".
/// - ``close(throwing:)``: pushes are refused, and once the buffer is empty every `pop` throws the
///   given error. The communicators close a queue with the application's outcome.
///
/// Waiting is cancellable: a cancelled `pop` throws `CancellationError` at once.
package final class AsyncEventQueue<Element: Sendable>: Sendable {
    private enum Waiter {
        case pop(CheckedContinuation<Element, any Error>)
        case ready(CheckedContinuation<Void, any Error>)

        func fail(_ error: any Error) {
            switch self {
            case .pop(let continuation): continuation.resume(throwing: error)
            case .ready(let continuation): continuation.resume(throwing: error)
            }
        }
    }

    private struct State {
        var buffer: [Element] = []
        var head = 0
        var terminal: Element?
        var closedWith: (any Error)?
        var waiters: [(id: UInt64, waiter: Waiter)] = []
        var nextWaiterID: UInt64 = 0

        var isEmpty: Bool { head == buffer.count }

        mutating func removeFirst() -> Element {
            let element = buffer[head]
            head += 1
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= buffer.count {
                buffer.removeFirst(head)
                head = 0
            }
            return element
        }

        /// The next element if one is available now, or the closing error; `nil` means "wait".
        mutating func take() -> Result<Element, any Error>? {
            if !isEmpty { return .success(removeFirst()) }
            if let terminal { return .success(terminal) }
            if let closedWith { return .failure(closedWith) }
            return nil
        }

        /// Whether a `pop` would return at once (`nil` means "wait"), or the closing error.
        func readiness() -> Result<Void, any Error>? {
            if !isEmpty || terminal != nil { return .success(()) }
            if let closedWith { return .failure(closedWith) }
            return nil
        }

        /// Removes and returns the waiters that only wait for readiness.
        mutating func takeReadyWaiters() -> [CheckedContinuation<Void, any Error>] {
            var ready: [CheckedContinuation<Void, any Error>] = []
            waiters.removeAll { entry in
                guard case .ready(let continuation) = entry.waiter else { return false }
                ready.append(continuation)
                return true
            }
            return ready
        }

        mutating func removeWaiter(_ id: UInt64) -> Waiter? {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return waiters.remove(at: index).waiter
        }
    }

    private let state = Mutex(State())

    /// Creates an empty, open queue.
    package init() {}

    /// Appends `element`, handing it straight to a waiting `pop` if there is one.
    /// - Returns: `false` (and drops the element) if the queue is closed.
    @discardableResult
    package func push(_ element: Element) -> Bool {
        let (accepted, popper, readyWaiters) = state.withLock {
            state -> (Bool, CheckedContinuation<Element, any Error>?, [CheckedContinuation<Void, any Error>]) in
            guard state.closedWith == nil else { return (false, nil, []) }
            if let index = state.waiters.firstIndex(where: { if case .pop = $0.waiter { true } else { false } }),
                case .pop(let continuation) = state.waiters.remove(at: index).waiter
            {
                return (true, continuation, [])
            }
            state.buffer.append(element)
            return (true, nil, state.takeReadyWaiters())
        }
        popper?.resume(returning: element)
        for waiter in readyWaiters { waiter.resume() }
        return accepted
    }

    /// From now on, an empty queue answers `pop` with `element` (without consuming it).
    /// Elements already queued, and elements pushed later, still come first.
    package func setTerminal(_ element: Element) {
        let waiters = state.withLock { state -> [(id: UInt64, waiter: Waiter)] in
            state.terminal = element
            defer { state.waiters = [] }
            return state.waiters
        }
        for (_, waiter) in waiters {
            switch waiter {
            case .pop(let continuation): continuation.resume(returning: element)
            case .ready(let continuation): continuation.resume()
            }
        }
    }

    /// Refuses further pushes; once the queued elements (and the terminal element, if any) are
    /// taken, `pop` throws `error`. Closing twice keeps the first error.
    package func close(throwing error: any Error) {
        let waiters = state.withLock { state -> [(id: UInt64, waiter: Waiter)] in
            guard state.closedWith == nil else { return [] }
            state.closedWith = error
            guard state.isEmpty, state.terminal == nil else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for (_, waiter) in waiters { waiter.fail(error) }
    }

    /// The next element if one is available without waiting, else `nil`.
    /// - Throws: The closing error if the queue is closed and drained.
    package func tryPop() throws -> Element? {
        try state.withLock { $0.take() }?.get()
    }

    /// Whether a `pop` would return at once.
    /// - Throws: The closing error if the queue is closed and drained.
    package func isReady() throws -> Bool {
        try state.withLock { $0.readiness() }?.get() != nil
    }

    /// Takes the next element, waiting for one.
    /// - Throws: The closing error if the queue is closed and drained; `CancellationError` if the
    ///   calling task is cancelled while waiting.
    package func pop() async throws -> Element {
        try await suspend(until: { $0.take() }, waiter: Waiter.pop)
    }

    /// Waits until a `pop` would return at once, without taking anything.
    /// - Throws: The closing error if the queue is closed and drained; `CancellationError` if the
    ///   calling task is cancelled while waiting.
    package func waitUntilReady() async throws {
        try await suspend(until: { $0.readiness() }, waiter: Waiter.ready)
    }

    /// Returns what `attempt` gives at once, or registers a waiter and suspends until a `push`,
    /// `setTerminal`, `close` or cancellation resumes it.
    private func suspend<T: Sendable>(
        until attempt: (inout State) -> Result<T, any Error>?,
        waiter: (CheckedContinuation<T, any Error>) -> Waiter
    ) async throws -> T {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let now = state.withLock { state -> Result<T, any Error>? in
                    if let result = attempt(&state) { return result }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters.append((id, waiter(continuation)))
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            state.withLock { $0.removeWaiter(id) }?.fail(CancellationError())
        }
    }
}
