import AsyncBridge

/// What the application's thread hands to the ASGI side.
enum ResponsePart: Sendable {
    case start(status: Int, headers: ASGIHeaders)
    case body([UInt8])
    /// The body is the file at this path; the response is complete.
    case pathsend(String)
    case end
    case failed(any Error)
}

/// What the ASGI side is woken for.
enum ResponseBatch: Sendable {
    /// Parts to send, in order.
    case parts([ResponsePart])
    /// The application blocks on a read of a request body that nobody receives yet: start receiving.
    case inputWanted
    /// The application's call has ended (after every part was taken).
    case finished
}

/// Carries response parts (and the application's demand for the request body, and its end) from
/// the application's blocking thread to the ASGI side, waking the async side as seldom as possible.
///
/// The thread queues parts, blocking while `limit` bytes wait unsent. A part queued with
/// `flush: false` does not wake the async side when something queued right after it will (the
/// start line before the first chunk; a complete in-memory body before its end); everything queued
/// is taken at once and sent as few events as possible. So a small response costs one wake-up: its
/// parts and the end of the call arrive together.
///
/// When the application runs on the very thread of the ASGI side (``runsOnConsumerThread(_:)``: an
/// `asyncToSync` thread that queued it for when the ASGI side suspends), it cannot sleep while the
/// buffer is full, since the ASGI side could then never take the parts: it runs that thread's
/// queued work instead, the ASGI side's sends among it, until there is room.
final class ResponseChannel: @unchecked Sendable {
    private let lock = ConditionLock()
    private var parts: [ResponsePart] = []
    private var buffered = 0
    /// Queued parts the consumer should be woken for.
    private var flushed = false
    private var done = false
    private var wantsInput = false
    private var disconnected = false
    private var abandoned = false
    private var consumer: UnsafeContinuation<ResponseBatch, Never>?
    private var goneHandlers: [@Sendable () -> Void] = []
    /// The thread that runs both the application and the ASGI side, when they share one.
    private var sharedThread: WaitingThread?
    let limit: Int
    /// Whether the ASGI side may send a file body as `http.response.pathsend`.
    let supportsPathsend: Bool

    init(limit: Int = 256 * 1024, supportsPathsend: Bool = false) {
        self.limit = limit
        self.supportsPathsend = supportsPathsend
    }

    deinit {
        lock.destroy()
    }

    // MARK: Sync side

    /// Queues a part, blocking while the buffer is full; wakes the async side unless `flush` is
    /// `false` (then a later part or the end must).
    /// - Throws: ``ClientDisconnectedError`` once the client is gone.
    func send(_ part: ResponsePart, flush: Bool = true) throws {
        lock.lock()
        while buffered >= limit && !disconnected {
            // A full buffer is sent now, whatever the parts in it asked.
            flushed = true
            if let (waiting, batch) = takeForConsumer() {
                lock.unlock()
                waiting.resume(returning: batch)
                lock.lock()
                continue
            }
            if let thread = sharedThread {
                // The consumer runs on this thread: run its work (and the thread's other work)
                // until it has taken the parts. Once the thread's operation is over nobody will.
                lock.unlock()
                let ran = thread.runQueuedWork()
                lock.lock()
                if !ran {
                    disconnected = true
                    abandoned = true
                }
                continue
            }
            lock.wait()
        }
        if disconnected {
            let abandoned = self.abandoned
            lock.unlock()
            throw abandoned ? ClientDisconnectedError.requestAbandoned : ClientDisconnectedError.connectionClosed
        }
        if parts.capacity == 0 { parts.reserveCapacity(4) }
        parts.append(part)
        if case .body(let bytes) = part { buffered += bytes.count }
        if flush { flushed = true }
        let taken = takeForConsumer()
        lock.unlock()
        taken.map { $0.0.resume(returning: $0.1) }
    }

    /// The application blocks reading a request body that is not being received yet.
    func requestInput() {
        lock.lock()
        wantsInput = true
        flushed = true  // what was queued goes first
        let taken = takeForConsumer()
        lock.unlock()
        taken.map { $0.0.resume(returning: $0.1) }
    }

    /// The application's call has ended: no more parts will come.
    func finish() {
        lock.lock()
        done = true
        let taken = takeForConsumer()
        lock.unlock()
        taken.map { $0.0.resume(returning: $0.1) }
    }

    /// Whether the client is gone.
    var isDisconnected: Bool { lock.withLock { disconnected } }

    /// Whether the ASGI side stopped waiting (``abandon()``).
    var isAbandoned: Bool { lock.withLock { abandoned } }

    /// With the lock held: what to give the consumer now, or `nil` to keep waiting.
    private func nextBatch() -> ResponseBatch? {
        if (flushed || done) && !parts.isEmpty {
            let taken = parts
            parts = []
            buffered = 0
            flushed = false
            lock.broadcast()
            return .parts(taken)
        }
        if wantsInput {
            wantsInput = false
            return .inputWanted
        }
        return done ? .finished : nil
    }

    /// With the lock held: the waiting consumer and what to hand it, if any.
    private func takeForConsumer() -> (UnsafeContinuation<ResponseBatch, Never>, ResponseBatch)? {
        guard let waiting = consumer, let batch = nextBatch() else { return nil }
        consumer = nil
        return (waiting, batch)
    }

    // MARK: Async side

    /// The application was queued on `thread`, the thread this (async) side runs on, and runs there
    /// once this side suspends: it then waits for room in the buffer by running the thread's queued
    /// work. Call it before this side first suspends.
    func runsOnConsumerThread(_ thread: WaitingThread) {
        lock.withLock { sharedThread = thread }
    }

    /// Everything queued and flushed so far, the application's demand for input, or the end.
    func next() async -> ResponseBatch {
        await withUnsafeContinuation { continuation in
            lock.lock()
            if let batch = nextBatch() {
                lock.unlock()
                continuation.resume(returning: batch)
            } else {
                consumer = continuation
                lock.unlock()
            }
        }
    }

    /// The client is gone: the application's next send throws.
    func disconnect() {
        let handlers = lock.withLock { () -> [@Sendable () -> Void] in
            disconnected = true
            parts = []
            buffered = 0
            defer { goneHandlers = [] }
            return goneHandlers
        }
        lock.broadcast()
        wakeSharedThread()
        for handler in handlers { handler() }
    }

    /// Wakes an application that waits for room on the thread it shares with this side.
    private func wakeSharedThread() {
        lock.withLock { sharedThread }?.wake()
    }

    /// The ASGI side stops waiting (its task was cancelled): a waiting `next()` returns `.finished`,
    /// and the application's next send throws.
    func abandon() {
        lock.lock()
        abandoned = true
        disconnected = true
        parts = []
        buffered = 0
        done = true
        let taken = takeForConsumer()
        let handlers = goneHandlers
        goneHandlers = []
        lock.unlock()
        lock.broadcast()
        wakeSharedThread()
        taken.map { $0.0.resume(returning: $0.1) }
        for handler in handlers { handler() }
    }
}

extension ResponseChannel: WSGIResponseSink {
    func start(status: Int, headers: ASGIHeaders) throws {
        try send(.start(status: status, headers: headers), flush: false)
    }

    func body(_ chunk: [UInt8], flush: Bool) throws {
        try send(.body(chunk), flush: flush)
    }

    func end(flush: Bool) throws {
        try send(.end, flush: flush)
    }

    func pathsend(_ path: String, length: Int) throws -> Bool {
        guard supportsPathsend else { return false }
        try send(.pathsend(path), flush: true)
        return true
    }

    func answer(_ response: PlainResponse) throws {
        try send(.start(status: response.status, headers: response.headers), flush: false)
        try send(.body(response.body), flush: false)
        try send(.end)
    }

    func fail(_ error: any Error) {
        try? send(.failed(error))
    }

    var isClientGone: Bool { isDisconnected }

    func onClientGone(_ handler: @escaping @Sendable () -> Void) {
        let goneNow = lock.withLock { () -> Bool in
            if disconnected { return true }
            goneHandlers.append(handler)
            return false
        }
        if goneNow { handler() }
    }
}
