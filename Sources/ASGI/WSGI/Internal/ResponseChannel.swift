import AsyncBridge

/// What the application's thread hands to the ASGI side.
enum ResponsePart: Sendable {
    case start(status: Int, headers: ASGIHeaders)
    case body([UInt8])
    case end
    case failed(any Error)
}

/// Carries response parts from the application's blocking thread to the ASGI side without a
/// crossing per chunk: the thread queues parts (blocking while `limit` bytes wait unsent), and the
/// async side takes everything queued at once and sends it as few events as possible.
final class ResponseChannel: @unchecked Sendable {
    private let lock = ConditionLock()
    private var parts: [ResponsePart] = []
    private var buffered = 0
    private var done = false
    private var disconnected = false
    private var consumer: CheckedContinuation<[ResponsePart]?, Never>?
    let limit: Int

    init(limit: Int = 256 * 1024) {
        self.limit = limit
    }

    deinit {
        lock.destroy()
    }

    // MARK: Sync side

    /// Queues a part, blocking while the buffer is full.
    /// - Throws: ``WSGIError/clientDisconnected`` once the client is gone.
    func send(_ part: ResponsePart) throws {
        lock.lock()
        while buffered >= limit && !disconnected {
            lock.wait()
        }
        if disconnected {
            lock.unlock()
            throw WSGIError.clientDisconnected
        }
        parts.append(part)
        if case .body(let bytes) = part { buffered += bytes.count }
        let taken = takeForConsumer()
        lock.unlock()
        taken.map { $0.0.resume(returning: $0.1) }
    }

    /// No more parts will come.
    func finish() {
        lock.lock()
        done = true
        let taken = takeForConsumer()
        lock.unlock()
        taken.map { $0.0.resume(returning: $0.1) }
    }

    /// Whether the client is gone.
    var isDisconnected: Bool { lock.withLock { disconnected } }

    /// With the lock held: the waiting consumer and what to hand it, if any.
    private func takeForConsumer() -> (CheckedContinuation<[ResponsePart]?, Never>, [ResponsePart]?)? {
        guard let waiting = consumer else { return nil }
        if !parts.isEmpty {
            consumer = nil
            let taken = parts
            parts = []
            buffered = 0
            lock.broadcast()
            return (waiting, taken)
        }
        if done {
            consumer = nil
            return (waiting, nil)
        }
        return nil
    }

    // MARK: Async side

    /// Everything queued so far (waiting for at least one part), or `nil` when finished.
    func next() async -> [ResponsePart]? {
        await withCheckedContinuation { continuation in
            lock.lock()
            if !parts.isEmpty {
                let taken = parts
                parts = []
                buffered = 0
                lock.unlock()
                lock.broadcast()
                continuation.resume(returning: taken)
            } else if done {
                lock.unlock()
                continuation.resume(returning: nil)
            } else {
                consumer = continuation
                lock.unlock()
            }
        }
    }

    /// The client is gone: the application's next send throws.
    func disconnect() {
        lock.withLock {
            disconnected = true
            parts = []
            buffered = 0
        }
        lock.broadcast()
    }
}
