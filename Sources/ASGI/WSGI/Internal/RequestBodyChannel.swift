import AsyncBridge

/// Carries the request body from the ASGI side (`receive()` events, async) to the application's
/// blocking reads, with back-pressure: the async side stops pulling events while `highWater` bytes
/// (1 MiB by default) wait unread, and resumes once the application has read half of them.
///
/// Nothing is received until the application first reads: its first read that has to wait tells
/// `demand`, whose consumer then starts receiving. An application that never reads its body (most
/// GET handlers) costs no receiving task.
///
/// Unchecked `Sendable`: every `var` (the chunks and their counts, the end and failure, `closed`,
/// `producer`, `demanded`) is read and written only with `lock` held; `demand` and `highWater` are
/// immutable. (A `Mutex` cannot serve: the reader sleeps on the condition variable with this lock.)
final class RequestBodyChannel: WSGIInputSource, @unchecked Sendable {
    private let lock = ConditionLock()
    private var chunks: [[UInt8]] = []
    private var headOffset = 0
    private var buffered = 0
    private var finished = false
    private var failure: (any Error)?
    private var closed = false
    private var producer: CheckedContinuation<Bool, Never>?
    private var demanded = false
    private let demand: ResponseChannel?
    /// The thread that runs both the application and the ASGI side, when they share one.
    private var sharedThread: WaitingThread?
    let highWater: Int

    /// - Parameters:
    ///   - demand: told (once) when the application first waits for bytes.
    ///   - highWater: buffered bytes past which `push` waits.
    init(demand: ResponseChannel? = nil, highWater: Int = 1024 * 1024) {
        self.demand = demand
        self.highWater = highWater
    }

    deinit {
        lock.destroy()
    }

    // MARK: Async side

    /// Queues a chunk; suspends while the buffer is full. `false` once the reader is done (stop).
    func push(_ chunk: [UInt8]) async -> Bool {
        guard !chunk.isEmpty else { return !isClosed }
        lock.lock()
        if closed {
            lock.unlock()
            return false
        }
        chunks.append(chunk)
        buffered += chunk.count
        let full = buffered >= highWater
        lock.unlock()
        lock.broadcast()
        guard full else { return true }
        return await withCheckedContinuation { continuation in
            lock.lock()
            if closed || buffered < highWater {
                let open = !closed
                lock.unlock()
                continuation.resume(returning: open)
            } else {
                producer = continuation
                lock.unlock()
            }
        }
    }

    /// Queues what was read before the application started (no back-pressure: nobody reads yet);
    /// with `finished`, that is the whole body.
    func preload(_ chunk: [UInt8], finished isComplete: Bool) {
        lock.withLock {
            if !chunk.isEmpty {
                chunks.append(chunk)
                buffered += chunk.count
            }
            if isComplete { finished = true }
        }
    }

    /// The body is complete: reads return what is left, then the end.
    func finish() {
        lock.withLock { finished = true }
        lock.broadcast()
    }

    /// The body cannot be completed: reads return what is left, then throw `error`.
    func fail(_ error: any Error) {
        let thread = lock.withLock { () -> WaitingThread? in
            if failure == nil { failure = error }
            return sharedThread
        }
        lock.broadcast()
        thread?.wake()
    }

    /// The application runs on `thread`, the thread of the ASGI side that receives the body: a read
    /// that waits for bytes runs that thread's queued work instead of sleeping. Call it before the
    /// ASGI side first suspends.
    func runsOnProducerThread(_ thread: WaitingThread) {
        lock.withLock { sharedThread = thread }
    }

    private var isClosed: Bool { lock.withLock { closed } }

    // MARK: Sync side

    func read(upTo maxBytes: Int) throws -> [UInt8] {
        lock.lock()
        while chunks.isEmpty && !finished && failure == nil && !closed {
            if !demanded, let demand {
                demanded = true
                lock.unlock()
                demand.requestInput()
                lock.lock()
                continue
            }
            if let thread = sharedThread {
                // The ASGI side receives on this thread: run its work until bytes arrive. Once the
                // thread's operation is over nobody will send them.
                lock.unlock()
                let ran = thread.runQueuedWork()
                lock.lock()
                if !ran && failure == nil { failure = ClientDisconnectedError.requestAbandoned }
                continue
            }
            lock.wait()
        }
        guard !chunks.isEmpty else {
            let failure = self.failure
            lock.unlock()
            if let failure { throw failure }
            return []
        }
        let first = chunks[0]
        let end = min(first.count, headOffset + maxBytes)
        let piece: [UInt8]
        if headOffset == 0 && end == first.count {
            piece = first
        } else {
            piece = Array(first[headOffset..<end])
        }
        if end == first.count {
            chunks.removeFirst()
            headOffset = 0
        } else {
            headOffset = end
        }
        buffered -= piece.count
        var resume: CheckedContinuation<Bool, Never>? = nil
        if buffered < highWater / 2, let waiting = producer {
            producer = nil
            resume = waiting
        }
        lock.unlock()
        resume?.resume(returning: true)
        return piece
    }

    /// The application is done with the body: unread bytes are dropped and the producer stops.
    func close() {
        let waiting = lock.withLock { () -> CheckedContinuation<Bool, Never>? in
            closed = true
            chunks = []
            buffered = 0
            defer { producer = nil }
            return producer
        }
        lock.broadcast()
        waiting?.resume(returning: false)
    }
}
