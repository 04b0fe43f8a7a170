import NIOCore
import Synchronization

/// Reads a channel's inbound stream for several tasks in turn, so that cancelling a reader never
/// loses data nor ends the stream.
///
/// NIO ends an inbound stream for good when a task waiting in its `next()` is cancelled. An ASGI
/// application may well cancel a `receive()` (a timeout, an adapter stopping its body pump), and
/// uvicorn lets it: the connection goes on and the next `receive()` gets the data. So reads made
/// for the application (``nextShielded()``) run in a task of their own; a cancelled caller gets
/// `CancellationError` at once, and the element read meanwhile is kept for the next read. The
/// connection's own task, which is cancelled only when the server stops, reads directly
/// (``next()``): no task per request head.
///
/// One reader at a time: callers take turns (the exchange's and session's `reading` flags).
final class InboundReader<Element: Sendable>: @unchecked Sendable {
    private var iterator: NIOAsyncChannelInboundStream<Element>.AsyncIterator

    private struct State {
        var inFlight = false
        /// A finished read nobody has taken yet.
        var stash: Result<Element?, any Error>?
        var waiter: (id: Int, continuation: CheckedContinuation<Result<Element?, any Error>, Never>)?
        var nextID = 0
    }
    private let state = Mutex(State())

    init(_ stream: NIOAsyncChannelInboundStream<Element>) {
        iterator = stream.makeAsyncIterator()
    }

    /// The next element, read in the calling task (for the connection's own task).
    func next() async throws -> Element? {
        let pending = state.withLock { state -> Bool? in
            if state.stash != nil { return nil }
            return state.inFlight
        }
        switch pending {
        case .none:
            return try state.withLock { state in
                defer { state.stash = nil }
                return state.stash!
            }.get()
        case .some(true):
            return try await waitForRead().get()
        case .some(false):
            return try await iterator.next()
        }
    }

    /// The next element, read in a task of its own; if the caller is cancelled while it waits,
    /// it gets `CancellationError` and the element goes to the next read.
    /// - Parameter timeout: the longest wait (a timer on `eventLoop`, cancelled when the element
    ///   comes); past it the caller gets ``InboundReadTimeout`` and the element goes to the next read.
    func nextShielded(timeout: Duration? = nil, on eventLoop: (any EventLoop)? = nil) async throws -> Element? {
        try Task.checkCancellation()
        let start = state.withLock { state -> Bool in
            if state.stash != nil || state.inFlight { return false }
            state.inFlight = true
            return true
        }
        if start {
            Task { await self.readInBackground() }
        }
        return try await waitForRead(timeout: timeout, on: eventLoop).get()
    }

    private func readInBackground() async {
        let result: Result<Element?, any Error>
        do {
            result = .success(try await iterator.next())
        } catch {
            result = .failure(error)
        }
        let waiter = state.withLock { state -> CheckedContinuation<Result<Element?, any Error>, Never>? in
            state.inFlight = false
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.stash = result
            return nil
        }
        waiter?.resume(returning: result)
    }

    /// Waits for the read in flight (or takes what it stashed); cancellable, and bounded by
    /// `timeout` when one is given.
    private func waitForRead(timeout: Duration? = nil, on eventLoop: (any EventLoop)? = nil) async -> Result<Element?, any Error> {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        let timer = Mutex<Scheduled<Void>?>(nil)
        defer { timer.withLock { $0 }?.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Element?, any Error>, Never>) in
                let now = state.withLock { state -> Result<Element?, any Error>? in
                    if let stash = state.stash {
                        state.stash = nil
                        return stash
                    }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let timeout, timeout <= .zero { return .failure(InboundReadTimeout()) }
                    state.waiter = (id, continuation)
                    return nil
                }
                if let now {
                    continuation.resume(returning: now)
                } else if let timeout, let eventLoop {
                    let scheduled = eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
                        self.expire(id, with: InboundReadTimeout())
                    }
                    timer.withLock { $0 = scheduled }
                }
            }
        } onCancel: {
            expire(id, with: CancellationError())
        }
    }

    /// Ends the wait `id` with `error` if it is still waiting.
    private func expire(_ id: Int, with error: any Error) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<Element?, any Error>, Never>? in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: .failure(error))
    }
}

/// A read waited longer than it was allowed; the element it waited for goes to the next read.
struct InboundReadTimeout: Error {
}
