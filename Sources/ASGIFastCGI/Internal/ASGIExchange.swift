import ASGI
import AsyncBridge
import Synchronization

/// The `receive` and `send` of an ASGI application served on a FastCGI worker thread.
///
/// The worker thread runs the application through `AsyncToSync`, so it is the application's sync
/// parent: the application's code runs on it, and reads of the body and writes of the response
/// happen on it too, directly when the call is already on that thread, else through a
/// thread-sensitive `SyncToAsync` hop back to it.
///
/// `receive()` yields the body as it arrives, then waits: it answers `http.disconnect` once the
/// response is complete, the web server hangs up (the watchdog notices), or the request times out.
/// `send` after the client went away throws ``WSGIError`` `clientDisconnected`.
final class ASGIExchange: Sendable {
    private struct State {
        var response = HTTPResponseState()
        var status: Int?
        var headers: ASGIHeaders = []
        var headPending = true
        var waiter: CheckedContinuation<Void, any Error>?
        var waiterCancelled = false
        var closed = false
    }

    let request: FastCGIRequest
    private let chunkSize: Int
    private let state = Mutex(State())

    init(request: FastCGIRequest, chunkSize: Int = 64 * 1024) {
        self.request = request
        self.chunkSize = chunkSize
    }

    /// Whether the application completed its response.
    var isComplete: Bool { state.withLock { $0.response.isComplete } }
    /// Whether the application sent `http.response.start` (the head may still be unwritten).
    var hasStarted: Bool { state.withLock { $0.status != nil } }

    // MARK: receive

    func receive() async throws -> ReceiveEvent {
        if request.isBroken || isComplete { return .httpDisconnect }
        let request = self.request
        let chunkSize = self.chunkSize
        let next: ReceiveEvent? = try await onWorkerThread { () throws -> ReceiveEvent? in
            guard !request.inputFinished else { return nil }
            do {
                let chunk = try request.read(upTo: chunkSize)
                if chunk.isEmpty { return .httpRequest(body: [], moreBody: false) }
                // With the whole declared length read, the end record is next: read it now so the
                // application learns the body is complete with this chunk.
                if let declared = request.head.contentLength, request.bodyRead >= declared {
                    let end = try request.read(upTo: 1)
                    if end.isEmpty { return .httpRequest(body: chunk, moreBody: false) }
                    throw WSGIError(.requestBodyTooLarge, "The request body is longer than its CONTENT_LENGTH.")
                }
                return .httpRequest(body: chunk, moreBody: true)
            } catch let error as WSGIError where error.code == .requestBodyTooLarge {
                throw error
            } catch {
                return .httpDisconnect
            }
        }
        if let next { return next }
        try await waitForDisconnect()
        return .httpDisconnect
    }

    /// Suspends until the response completes or the connection breaks.
    private func waitForDisconnect() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if state.waiterCancelled { return .failure(CancellationError()) }
                    if state.closed || state.response.isComplete { return .success(()) }
                    if state.waiter != nil {
                        return .failure(ASGIProtocolError("receive() was called while another receive() was waiting."))
                    }
                    state.waiter = continuation
                    return nil
                }
                if let outcome {
                    continuation.resume(with: outcome)
                } else {
                    request.onDisconnect { [self] in resumeWaiter(with: .success(())) }
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                state.waiterCancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
        state.withLock { $0.waiterCancelled = false }
    }

    private func resumeWaiter(with result: Result<Void, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    // MARK: send

    func send(_ event: SendEvent) async throws {
        if case .httpResponsePathsend = event {
            throw ASGIProtocolError("This server does not support 'http.response.pathsend' (it is not in the scope's extensions).")
        }
        let write = try state.withLock { state -> (head: (Int, ASGIHeaders)?, body: [UInt8], more: Bool)? in
            try state.response.validate(event)
            switch event {
            case .httpResponseStart(let status, let headers, _):
                state.status = status
                state.headers = headers
                return nil
            case .httpResponseBody(let body, let moreBody):
                var head: (Int, ASGIHeaders)? = nil
                if state.headPending, let status = state.status {
                    head = (status, state.headers)
                    state.headPending = false
                }
                if body.isEmpty && head == nil && moreBody { return nil }
                return (head, body, moreBody)
            default:
                // Trailers: FastCGI cannot carry them; the response is complete once they are sent.
                return nil
            }
        }
        if request.isBroken {
            if request.isTimedOut { throw FastCGIError(.requestTimedOut, "The request ran past the request timeout.") }
            throw WSGIError.clientDisconnected
        }
        let complete = isComplete
        if write != nil || complete {
            let request = self.request
            try await onWorkerThread {
                if let write {
                    let headBytes = try write.head.map { try FastCGIRequest.responseHead(status: $0.0, reason: nil, headers: $0.1) }
                    try write.body.withUnsafeBytes { body in
                        try request.write(head: headBytes, status: write.head?.0 ?? 0, body: body, flush: write.more)
                    }
                }
                // The last event: the web server gets the response now, even if the application
                // goes on working (background tasks after the response).
                if complete { request.completeResponse() }
            }
        }
        if complete { resumeWaiter(with: .success(())) }
    }

    /// After the application returned: wakes a `receive()` still waiting.
    func close() {
        state.withLock { $0.closed = true }
        resumeWaiter(with: .success(()))
    }

    /// Runs `body` on the worker thread: directly when already there.
    private func onWorkerThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        if request.onWorkerThread { return try body() }
        return try await SyncToAsync.run(threadSensitive: true, body)
    }
}
