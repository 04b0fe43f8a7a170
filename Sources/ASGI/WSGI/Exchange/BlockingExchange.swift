import AsyncBridge
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `receive` and `send` of an ASGI application served by a blocking thread (``ASGIToWSGI``):
/// the one exchange between an ASGI application and a WSGI-style server, used by every blocking
/// frontend of the package.
///
/// - `receive()` reads the body from `environ.input` as the application asks, up to `chunkSize`
///   bytes as soon as any are there, never past `CONTENT_LENGTH` (a blocking server's input may
///   block there); the last chunk has `moreBody: false`. After that it waits, and answers
///   `http.disconnect` only when the response is complete, the client is really gone (the server
///   tells, through ``WSGIServerHooks``, or a write fails), or the application returned.
/// - `send()` checks the events (``HTTPResponseState``, the status and header rules), starts the
///   WSGI response on the first body bytes, writes every chunk through `write`, and at the final
///   event completes the response at once when the server can (``WSGIServerHooks``).
///   `http.response.pathsend` is streamed from the file. Trailers cannot go through WSGI: they are
///   accepted and dropped. Once the client is gone, `send` throws ``ClientDisconnectedError``.
///
/// The blocking work (reads, `startResponse`, `write`) runs on the calling thread: directly when
/// the application's task already runs there (``AsyncToSync`` runs it on that thread), else
/// through a thread-sensitive hop to it. A hop that lands elsewhere (the calling thread has left
/// ``AsyncToSync``: a task that outlived the application, or a detached one) is refused with
/// ``ASGIProtocolError``.
///
/// Unchecked `Sendable`: `write`, `startResponse`, the input's reads and the server hooks'
/// `completeResponse` are used only on the calling thread (`onCallerThread` checks it, also after a
/// hop); every other mutable field is in the `state` `Mutex`, and the rest is immutable.
final class BlockingExchange: @unchecked Sendable {
    private struct State {
        var response = HTTPResponseState()
        var status: Int?
        var headers: ASGIHeaders = []
        var bodyRead = 0
        var bodyDone = false
        var responseComplete = false
        var clientGone = false
        var closed = false
        var watching = false
        var waiter: CheckedContinuation<Void, any Error>?
        var waiterCancelled = false
    }

    private let environ: Environ
    private let startResponse: StartResponse
    private let chunkSize: Int
    private let declaredLength: Int?
    private let callerThread = pthread_self()
    private let state = Mutex(State())
    /// The `write` callable once the response started; only touched on the calling thread.
    private var write: Write?

    init(environ: Environ, startResponse: @escaping StartResponse, chunkSize: Int) {
        self.environ = environ
        self.startResponse = startResponse
        self.chunkSize = chunkSize
        self.declaredLength = environ["CONTENT_LENGTH"].flatMap { ContentLength.value($0.utf8) }
    }

    // MARK: receive

    func receive() async throws -> ReceiveEvent {
        let (over, bodyDone, bodyRead) = state.withLock { ($0.responseComplete || $0.clientGone, $0.bodyDone, $0.bodyRead) }
        if over { return .httpDisconnect }
        guard bodyDone else { return try await readBody(after: bodyRead) }
        try await waitForResponseEnd()
        return .httpDisconnect
    }

    private func readBody(after bodyRead: Int) async throws -> ReceiveEvent {
        let wanted = declaredLength.map { min(chunkSize, $0 - bodyRead) } ?? chunkSize
        if wanted <= 0 {
            state.withLock { $0.bodyDone = true }
            return .httpRequest(body: [], moreBody: false)
        }
        let input = environ.input
        let chunk: [UInt8]
        do {
            chunk = try await onCallerThread { try input.readAvailable(upTo: wanted) }
        } catch let error as WSGIError where error.code == .requestBodyTooLarge {
            throw error
        } catch {
            // The body cannot be completed: the client (or the web server) went away, or the
            // server gave up waiting for it.
            clientGone()
            return .httpDisconnect
        }
        let done = state.withLock { state -> Bool in
            state.bodyRead += chunk.count
            let done = chunk.isEmpty || declaredLength.map { state.bodyRead >= $0 } ?? false
            if done { state.bodyDone = true }
            return done
        }
        if chunk.isEmpty, let declaredLength, bodyRead < declaredLength {
            clientGone()
            return .httpDisconnect
        }
        return .httpRequest(body: chunk, moreBody: !done)
    }

    /// Suspends until the response is complete, the client is gone, or the application returned.
    private func waitForResponseEnd() async throws {
        let watch = state.withLock { state -> Bool in
            defer { state.watching = true }
            return !state.watching
        }
        if watch, let hooks = environ.serverHooks {
            hooks.onClientGone { [weak self] in self?.clientGone() }
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if state.waiterCancelled { return .failure(CancellationError()) }
                    if state.closed || state.responseComplete || state.clientGone { return .success(()) }
                    if state.waiter != nil {
                        return .failure(ASGIProtocolError(.concurrentReceive, "receive() was called while another receive() was waiting."))
                    }
                    state.waiter = continuation
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
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

    private func wakeWaiter() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The client is gone: a waiting `receive()` answers `http.disconnect`, `send` throws.
    func clientGone() {
        state.withLock { $0.clientGone = true }
        wakeWaiter()
    }

    // MARK: send

    func send(_ event: SendEvent) async throws {
        let (gone, complete) = try state.withLock { state -> (Bool, Bool) in
            if state.clientGone { return (true, false) }
            try state.response.validate(event)
            if case .httpResponseStart(let status, let headers, _) = event {
                state.status = status
                state.headers = headers
            }
            return (false, state.response.isComplete)
        }
        if gone { throw ClientDisconnectedError.connectionClosed }
        switch event {
        case .httpResponseStart(let status, let headers, _):
            // The request method does not matter here: the WSGI driver frames the body.
            _ = try ResponseFraming.checkingStart(status: status, headers: headers, requestMethod: "GET", event: event)
        case .httpResponseBody(let body, _):
            if !body.isEmpty || complete {
                try await onCallerThread { [self] in
                    try writeOnCallerThread(body, last: complete)
                    if complete { try completeOnCallerThread() }
                }
            }
        case .httpResponsePathsend(let path):
            try await onCallerThread { [self] in
                try sendFileOnCallerThread(path)
                if complete { try completeOnCallerThread() }
            }
        case .httpResponseTrailers:
            if complete { try await onCallerThread { [self] in try completeOnCallerThread() } }
        default:
            break
        }
        if complete {
            state.withLock { $0.responseComplete = true }
            wakeWaiter()
        }
    }

    /// Starts the WSGI response if needed and writes `body`; on the calling thread. With `last`,
    /// `body` ends the response and goes out with its end where the server can (one write to the
    /// connection instead of two).
    private func writeOnCallerThread(_ body: [UInt8], last: Bool = false) throws {
        do {
            let write = try started()
            if last, let writeLast = environ.serverHooks?.writeLast {
                try writeLast(body)
            } else if !body.isEmpty {
                try write(body)
            }
        } catch let error as ClientDisconnectedError {
            clientGone()
            throw error
        }
    }

    /// Streams the file at `path` as the body (its size as `Content-Length` when the application
    /// gave none); on the calling thread.
    private func sendFileOnCallerThread(_ path: String) throws {
        var file = try WSGIFileBody(path: path, blockSize: chunkSize)
        defer { file.close() }
        if let length = file.length {
            state.withLock { state in
                if state.headers["content-length"] == nil { state.headers.append("content-length", String(length)) }
            }
        }
        try writeOnCallerThread([])
        while let block = try file.next() {
            try writeOnCallerThread(block)
        }
    }

    /// The response is complete: the server may end it now.
    private func completeOnCallerThread() throws {
        try environ.serverHooks?.completeResponse()
    }

    /// The `write` callable, calling `startResponse` first if needed.
    private func started() throws -> Write {
        if let write { return write }
        let (status, headers) = state.withLock { ($0.status, $0.headers) }
        let write = try startResponse(HTTPStatus.statusLine(status ?? 500), headers.map { ($0.nameString, $0.valueString) }, nil)
        self.write = write
        return write
    }

    // MARK: After the application

    /// The application returned (or failed): a waiting `receive()` returns.
    func close() {
        state.withLock { $0.closed = true }
        wakeWaiter()
    }

    /// After the application returned: checks it completed its response, and starts an empty
    /// one if nothing was written.
    func finish() throws {
        let (response, status) = state.withLock { ($0.response, $0.status) }
        guard status != nil else {
            throw ASGIProtocolError(.incompleteResponse, "The ASGI application finished without sending 'http.response.start'.")
        }
        guard response.isComplete else {
            throw ASGIProtocolError(.incompleteResponse, "The ASGI application finished before its final 'http.response.body'.")
        }
        _ = try started()
    }

    /// Runs `body` on the calling thread: directly when already there, else through a
    /// thread-sensitive hop, which reaches it only while it waits in ``AsyncToSync`` for the
    /// application.
    /// - Throws: ``ASGIProtocolError`` when the hop lands on another thread (the call comes from a
    ///   task that outlived the application, or a detached one): `startResponse`, `write` and the
    ///   input belong to the calling thread, which has moved on.
    private func onCallerThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        // The thread's identity alone cannot tell: once the caller's thread has ended, a new
        // thread may get the same `pthread_t`. The call closes the exchange before its thread
        // moves on, so a closed exchange refuses first.
        if pthread_equal(pthread_self(), callerThread) != 0, !isClosed { return try body() }
        let callerThread = self.callerThread
        return try await SyncToAsync.run(threadSensitive: true) { [self] in
            guard pthread_equal(pthread_self(), callerThread) != 0, !isClosed else {
                throw ASGIProtocolError(
                    .offThread,
                    "receive() or send() was called off the application's thread after the application returned (from a task that outlived it, or a detached one)."
                )
            }
            return try body()
        }
    }

    /// Whether the call that owns the exchange has returned (``close()``).
    private var isClosed: Bool { state.withLock { $0.closed } }

}
