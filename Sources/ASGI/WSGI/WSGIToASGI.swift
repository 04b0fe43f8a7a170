public import AsyncBridge
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves a blocking, WSGI-style application as an ASGI application, so it runs unchanged inside
/// an async server.
///
/// Each request runs the application on a blocking thread (`BlockingThreadPool.shared` unless
/// you pass an `executor`; never the cooperative pool), so slow requests overlap. Served by a
/// blocking frontend (the FastCGI server's worker threads, or any `asyncToSync` caller), a request
/// whose whole body was read ahead runs instead on the thread that serves it and waits for it
/// anyway: no thread switch at all (with no `executor` and not `threadSensitive`; the environment
/// variable `ASGI_WSGI_INLINE=0` turns this off). The application then runs after the ASGI code
/// above it has suspended; it must not block waiting for other tasks of that request, which run
/// on the same thread (blocking on its own work, I/O and `asyncToSync` are fine). Unlike
/// asgiref's `WsgiToAsgi`, it:
/// - reads a small request body (up to `bodyPrefetchBytes`, 64 KiB by default) before it takes a
///   blocking thread, as asgiref reads the whole body first: a client that sends its body slowly
///   (or never) waits on the event loop, and the server's body timeouts answer it, without
///   pinning a thread; a larger body then streams into `environ.input` as it arrives, with
///   back-pressure; 413 past `maxRequestBodyBytes`;
/// - calls `close()` on the body on every path, supports the `write` callable, holds headers back
///   until the first non-empty chunk (so `startResponse` with an error can replace them), clamps
///   the output to the application's `Content-Length`;
/// - turns a client disconnect into an error on input reads and a stop of the body's iteration;
/// - answers 500 (and logs) when the application fails before its response started, and fails the
///   ASGI call (so the server aborts the connection) when it fails after;
/// - sends small chunks together: chunks queue up while an event is being sent, so a body of 1,000
///   small chunks does not cost 1,000 crossings;
/// - costs one wake-up each way for a small response (a body past the prefetch is received only
///   once the application reads it, and an in-memory body goes out with the end of the call);
/// - serves `lifespan` scopes with optional ``WSGILifespan`` hooks.
///
/// ```swift
/// let app = WSGIToASGI(legacyApp, maxRequestBodyBytes: 10 << 20)
/// ```
public struct WSGIToASGI: ASGIApplication {
    /// The wrapped application.
    public let application: any WSGIApplication
    /// Most values one environ variable may receive from repeated headers (400 past it); `nil`: no limit.
    public let duplicateHeaderLimit: Int?
    /// Largest request body accepted (413 past it); `nil`: no limit.
    public let maxRequestBodyBytes: Int?
    /// How much of the request body is read before the application takes a blocking thread (the
    /// whole body when it is smaller); `0` reads nothing ahead.
    public let bodyPrefetchBytes: Int
    /// Run each request's blocking code thread-sensitively, on one thread per request.
    public let threadSensitive: Bool
    /// Where requests run when not thread-sensitive (`nil`: the shared pool).
    public let executor: (any BlockingExecutor)?
    /// Startup and shutdown hooks.
    public let lifespan: WSGILifespan
    /// Where errors and `wsgi.errors` go.
    public let logger: Logger

    /// Wraps `application`.
    /// - Parameters:
    ///   - application: the blocking application to serve.
    ///   - duplicateHeaderLimit: values per environ variable from repeated headers (400 past it).
    ///   - maxRequestBodyBytes: largest body accepted (413 past it); default 100 MiB.
    ///   - bodyPrefetchBytes: how much of the body to read before taking a blocking thread;
    ///     default ``ServerDefaults/bodyPrefetchBytes`` (64 KiB).
    ///   - threadSensitive: run each request in its own `ThreadSensitiveContext` with
    ///     thread-sensitive calls (per-request thread affinity) instead of on the pool; under a
    ///     blocking frontend (`asyncToSync`), on that frontend's thread, as every thread-sensitive
    ///     call there.
    ///   - executor: the pool for non-thread-sensitive requests.
    ///   - lifespan: startup and shutdown hooks.
    ///   - logger: where errors go.
    public init(
        _ application: any WSGIApplication,
        duplicateHeaderLimit: Int? = ServerDefaults.duplicateHeaderLimit,
        maxRequestBodyBytes: Int? = ServerDefaults.maxRequestBodyBytes,
        bodyPrefetchBytes: Int = ServerDefaults.bodyPrefetchBytes,
        threadSensitive: Bool = false,
        executor: (any BlockingExecutor)? = nil,
        lifespan: WSGILifespan = WSGILifespan(),
        logger: Logger = Logger(label: "asgi.wsgi")
    ) {
        self.application = application
        self.duplicateHeaderLimit = duplicateHeaderLimit
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.bodyPrefetchBytes = max(0, bodyPrefetchBytes)
        self.threadSensitive = threadSensitive
        self.executor = threadSensitive ? nil : executor
        self.lifespan = lifespan
        self.logger = logger
    }

    /// Serves one connection.
    /// - Throws: ``WSGIError`` `unsupportedScope` for WebSocket scopes; the application's error when
    ///   it fails after its response started.
    public func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        switch scope {
        case .http(let http):
            try await serve(http, receive: receive, send: send)
        case .lifespan:
            try await serveLifespan(receive: receive, send: send)
        case .websocket:
            throw WSGIError(.unsupportedScope, "A WSGI-style application cannot serve a WebSocket connection.")
        }
    }

    // MARK: HTTP

    private func serve(_ scope: HTTPScope, receive: @escaping Receive, send: @escaping Send) async throws {
        let declared = scope.headers["content-length"].flatMap { ContentLength.value($0.utf8) }
        if let refusal = PlainResponse.checkDeclaredBody(declared, limit: maxRequestBodyBytes) {
            logger.notice("Refused a request: \(refusal.text)")
            try await sendPlain(refusal, send)
            return
        }
        let output = ResponseChannel(supportsPathsend: scope.extensions?[ServerExtension.pathsend] != nil)
        let input = RequestBodyChannel(demand: output)
        let expectsBody = declared.map { $0 > 0 } ?? (scope.headers["transfer-encoding"] != nil)
        var prefetched = 0
        // Whether the whole body is in `input` (or there is none): the application will not wait
        // for the ASGI side to receive more.
        var bodyInHand = !expectsBody
        if bodyPrefetchBytes > 0 && expectsBody {
            switch try await prefetchBody(receive: receive, into: input, declared: declared) {
            case .read(let count, let complete):
                prefetched = count
                bodyInHand = complete
            case .gone:
                // The client left, or the server answered for the application (a body too slow):
                // there is no one to serve.
                return
            case .tooLarge(let limit):
                let refusal = PlainResponse.bodyTooLarge(limit: limit)
                logger.notice("Refused a request: \(refusal.text)")
                try await sendPlain(refusal, send)
                return
            }
        }
        if threadSensitive {
            try await ThreadSensitiveContext.run {
                try await exchange(scope: scope, input: input, output: output, receive: receive, send: send, prefetched: prefetched)
            }
        } else {
            // Under a blocking frontend (`asyncToSync`), a request whose body is in hand runs on
            // the thread that waits for it anyway, and costs no thread switch.
            let waitingThread = executor == nil && bodyInHand && Self.runsOnWaitingThreads ? WaitingThread.current : nil
            if waitingThread != nil && !expectsBody {
                input.preload([], finished: true)
            }
            try await exchange(
                scope: scope,
                input: input,
                output: output,
                receive: receive,
                send: send,
                prefetched: prefetched,
                waitingThread: waitingThread
            )
        }
    }

    /// How reading the start of the body ended.
    private enum Prefetch {
        /// This many bytes are in the input; `complete`: with its end (the whole body).
        case read(Int, complete: Bool)
        /// The body will not come: `http.disconnect`.
        case gone
        /// The body is larger than `maxRequestBodyBytes`.
        case tooLarge(Int)
    }

    /// Reads the body up to `bodyPrefetchBytes` (or its declared length) into `input`, in the
    /// calling task, before any blocking thread is taken.
    private func prefetchBody(receive: Receive, into input: RequestBodyChannel, declared: Int?) async throws -> Prefetch {
        let target = min(bodyPrefetchBytes, declared ?? bodyPrefetchBytes)
        var buffered: [UInt8] = []
        while buffered.count < target {
            switch try await receive() {
            case .httpRequest(let body, let moreBody):
                if buffered.isEmpty { buffered = body } else { buffered.append(contentsOf: body) }
                if let limit = maxRequestBodyBytes, buffered.count > limit { return .tooLarge(limit) }
                if !moreBody {
                    input.preload(buffered, finished: true)
                    return .read(buffered.count, complete: true)
                }
            case .httpDisconnect:
                return .gone
            default:
                continue
            }
        }
        input.preload(buffered, finished: false)
        return .read(buffered.count, complete: false)
    }

    /// Runs the application on a blocking thread and forwards its output until its call has ended.
    ///
    /// The async side waits on the output channel alone: the application's parts and the end of its
    /// call arrive through it, so a small response costs one wake-up. The request body is received
    /// (by a child task, with read-ahead and back-pressure) only once the application reads it.
    ///
    /// With `waitingThread` (the thread this runs on, an `asyncToSync` thread, when the whole body
    /// is in `input`), the application is queued on that thread instead of a blocking pool: it runs
    /// there as soon as this side waits for its output, and waits for room in the output by running
    /// this side's work (``ResponseChannel``), so a request crosses no thread at all.
    private func exchange(
        scope: HTTPScope,
        input: RequestBodyChannel,
        output: ResponseChannel,
        receive: @escaping Receive,
        send: @escaping Send,
        prefetched: Int,
        waitingThread: WaitingThread? = nil
    ) async throws {
        let application = self.application
        let logger = self.logger
        let duplicateHeaderLimit = self.duplicateHeaderLimit
        let call: StartedSyncCall
        do {
            call = try StartedSyncCall.start(
                threadSensitive: threadSensitive,
                executor: executor,
                on: waitingThread,
                {
                    defer { input.close() }
                    _ = WSGIDriver.serve(
                        application,
                        scope: scope,
                        input: WSGIInput(input),
                        duplicateHeaderLimit: duplicateHeaderLimit,
                        sink: output,
                        logger: logger
                    )
                },
                completion: { _ in
                    output.finish()
                }
            )
        } catch let error as BridgeError where error == .queueFull {
            // The application never ran: answer for it.
            logger.warning("Blocking thread pool is full; answering 503.")
            try await sendPlain(.serviceUnavailable, send)
            return
        }
        // Before this side first suspends, so before the application can run on this thread
        // (where a thread-sensitive call from a blocking frontend's thread goes too).
        if let thread = call.waitingThread {
            output.runsOnConsumerThread(thread)
            input.runsOnProducerThread(thread)
        }
        let outcome = await withTaskCancellationHandler {
            let outcome = await forwardResponse(from: output, input: input, send: send, stopWhenInputWanted: true)
            guard case .inputWanted = outcome else { return outcome }
            return await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await pumpRequestBody(receive: receive, into: input, alreadyRead: prefetched)
                }
                let outcome = await forwardResponse(from: output, input: input, send: send, stopWhenInputWanted: false)
                group.cancelAll()
                return outcome
            }
        } onCancel: {
            // Cancelled (a timeout, a server shutting down): the blocking code may still run, so
            // its next read or write fails as for a client that went away, and the response side
            // stops waiting for it.
            call.cancel()
            input.fail(ClientDisconnectedError.requestAbandoned)
            output.abandon()
        }
        switch outcome {
        case .abandoned:
            throw CancellationError()
        case .finished(let failure):
            call.mergeLocals()
            if let failure { throw failure }
        case .inputWanted:
            preconditionFailure("forwardResponse(stopWhenInputWanted: false) returned .inputWanted")
        }
    }

    /// Reads `http.request` events into the input channel as the application consumes them.
    private func pumpRequestBody(receive: @escaping Receive, into input: RequestBodyChannel, alreadyRead: Int) async {
        var total = alreadyRead
        do {
            while true {
                switch try await receive() {
                case .httpRequest(let body, let moreBody):
                    total += body.count
                    if let limit = maxRequestBodyBytes, total > limit {
                        input.fail(WSGIError(.requestBodyTooLarge, "The request body is larger than the limit of \(limit) bytes."))
                        return
                    }
                    guard await input.push(body) else { return }
                    if !moreBody {
                        input.finish()
                        return
                    }
                case .httpDisconnect:
                    input.fail(ClientDisconnectedError.connectionClosed)
                    return
                default:
                    continue
                }
            }
        } catch {
            input.fail(ClientDisconnectedError.connectionClosed)
        }
    }

    /// How forwarding the application's output ended.
    private enum ForwardOutcome {
        /// The application's call ended; its error if it failed after the response started.
        case finished((any Error)?)
        /// The application waits for the request body (only with `stopWhenInputWanted`).
        case inputWanted
        /// The ASGI call was cancelled.
        case abandoned
    }

    /// Sends the application's output as ASGI events until its call has ended.
    private func forwardResponse(
        from output: ResponseChannel,
        input: RequestBodyChannel,
        send: @escaping Send,
        stopWhenInputWanted: Bool
    ) async -> ForwardOutcome {
        var pending: [UInt8] = []
        var failure: (any Error)? = nil
        var draining = false
        while true {
            let parts: [ResponsePart]
            switch await output.next() {
            case .finished:
                return output.isAbandoned ? .abandoned : .finished(failure)
            case .inputWanted:
                if stopWhenInputWanted { return .inputWanted }
                continue
            case .parts(let taken):
                parts = taken
            }
            guard !draining else { continue }
            do {
                for part in parts {
                    switch part {
                    case .start(let status, let headers):
                        try await send(.httpResponseStart(status: status, headers: headers))
                    case .body(let bytes):
                        if pending.isEmpty { pending = bytes } else { pending.append(contentsOf: bytes) }
                    case .end:
                        try await send(.httpResponseBody(body: pending, moreBody: false))
                        pending = []
                    case .pathsend(let path):
                        try await send(.httpResponsePathsend(path: path))
                    case .failed(let error):
                        if !pending.isEmpty {
                            try? await send(.httpResponseBody(body: pending, moreBody: true))
                            pending = []
                        }
                        failure = error
                        draining = true
                    }
                    if draining { break }
                }
                if !pending.isEmpty {
                    try await send(.httpResponseBody(body: pending, moreBody: true))
                    pending = []
                }
            } catch {
                // The client is gone: the application's next write throws and its reads fail.
                logger.debug("Sending the response failed: \(String(describing: error))")
                output.disconnect()
                input.fail(ClientDisconnectedError.connectionClosed)
                pending = []
                draining = true
            }
        }
    }

    /// Whether requests may run on the thread that serves them (``WSGIToASGI``); read once from
    /// `ASGI_WSGI_INLINE` (`0` turns it off).
    static let runsOnWaitingThreads: Bool = {
        guard let raw = getenv("ASGI_WSGI_INLINE") else { return true }
        return String(cString: raw) != "0"
    }()

    private func sendPlain(_ response: PlainResponse, _ send: Send) async throws {
        try await send(.httpResponseStart(status: response.status, headers: response.headers))
        try await send(.httpResponseBody(body: response.body, moreBody: false))
    }

    // MARK: Lifespan

    private func serveLifespan(receive: @escaping Receive, send: @escaping Send) async throws {
        try await lifespan.serve(receive: receive, send: send, executor: executor, logger: logger)
    }
}
