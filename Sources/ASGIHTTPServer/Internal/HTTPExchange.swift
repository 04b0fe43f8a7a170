import ASGI
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// One HTTP request and its response: the `receive` and `send` an application gets.
///
/// - `receive()` pulls the request body from the connection as the application asks for it (the
///   channel's inbound back-pressure stops reading from the socket meanwhile). Once the body is
///   read it waits until the response is complete or the client leaves, then returns
///   `http.disconnect` (as uvicorn does).
/// - `send()` checks each event with `HTTPResponseState`, holds the head back until the first
///   body event (so an error can still become a 500), writes and flushes each body event, and
///   suspends while the channel is not writable.
final class HTTPExchange: Sendable {
    private enum Body {
        case open
        case done
        case failed
    }

    private struct State {
        var response = HTTPResponseState()
        /// `http.response.start` received, not yet written.
        var pendingHead: ResponseHead?
        var status = 0
        var started = false
        var headWritten = false
        /// The response's final part is on its way: the connection may carry another request.
        var wireComplete = false
        var trailersEnabled = false
        var trailers = HTTPHeaders()
        var closeAfter = false
        var body = Body.open
        /// The application has seen the body's last event.
        var bodyDelivered = false
        var bodyBytes = 0
        /// A `receive()` (or the drain after the application) holds the read turn.
        var reading = false
        var continueSent = false
        var disconnected = false
        /// The server answered for the application (413): its later sends fail.
        var serverAnswered = false
        var finished = false
        var nextWaiter = 0
        var waiters: [Int: UnsafeContinuation<Void, Never>] = [:]

        mutating func takeWaiters() -> [UnsafeContinuation<Void, Never>] {
            guard !waiters.isEmpty else { return [] }
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
    }

    /// How the application's call ended, for the connection.
    struct Outcome {
        var status: Int
        var keepAlive: Bool
    }

    private let connection: HTTPConnection
    private let version: HTTPVersion
    private let isHead: Bool
    private let expectsContinue: Bool
    private let acceptsTrailers: Bool
    private let requestKeepAlive: Bool
    private let wantsUpgrade: Bool
    private let bodyLimit: Int?
    private let allocator: ByteBufferAllocator
    private let state = Mutex(State())

    /// - Parameter bodyDone: the request has no body and its end was already read.
    init(connection: HTTPConnection, head: HTTPRequestHead, request: RequestHead, bodyDone: Bool) {
        self.connection = connection
        self.version = head.version
        self.isHead = head.method == .HEAD
        self.expectsContinue = request.expectsContinue
        self.acceptsTrailers = request.acceptsTrailers && head.version.major == 1 && head.version.minor >= 1
        self.requestKeepAlive = request.keepAlive
        self.wantsUpgrade = request.wantsUpgrade
        self.bodyLimit = connection.server.configuration.maxRequestBodyBytes
        self.allocator = connection.channel.allocator
        if bodyDone { state.withLock { $0.body = .done } }
    }

    // MARK: receive

    func receive() async throws -> ReceiveEvent {
        try Task.checkCancellation()
        enum Step {
            case disconnect
            case event(ReceiveEvent)
            case wait
            case read(sendContinue: Bool)
        }
        let step = try state.withLock { state -> Step in
            if state.disconnected || state.wireComplete || state.serverAnswered || state.finished { return .disconnect }
            switch state.body {
            case .open:
                if state.reading {
                    throw ASGIProtocolError("receive() was called while another receive() is still reading the request body.")
                }
                state.reading = true
                let sendContinue = expectsContinue && !state.continueSent && !state.started
                if sendContinue { state.continueSent = true }
                return .read(sendContinue: sendContinue)
            case .done where !state.bodyDelivered:
                // A request without a body: its (empty) end was read before the application ran.
                state.bodyDelivered = true
                return .event(.httpRequest(body: [], moreBody: false))
            case .done, .failed:
                return .wait
            }
        }
        switch step {
        case .disconnect:
            return .httpDisconnect
        case .event(let event):
            return event
        case .wait:
            await waitForResponseEndOrDisconnect()
            try Task.checkCancellation()
            return .httpDisconnect
        case .read(let sendContinue):
            if sendContinue {
                let head = HTTPResponseHead(version: version, status: .continue)
                try? await connection.write([.head(head)])
            }
            let part: HTTPServerRequestPart?
            do {
                part = try await connection.nextPartShielded()
            } catch is CancellationError {
                // The read goes on; what it gets is kept for the next receive() (or the drain).
                state.withLock { $0.reading = false }
                throw CancellationError()
            } catch {
                part = nil
            }
            return await received(part)
        }
    }

    private func received(_ part: HTTPServerRequestPart?) async -> ReceiveEvent {
        switch part {
        case .body(let buffer):
            let tooLarge = state.withLock { state -> Bool in
                state.reading = false
                state.bodyBytes += buffer.readableBytes
                if let bodyLimit, state.bodyBytes > bodyLimit {
                    state.body = .failed
                    return true
                }
                return false
            }
            if tooLarge {
                await bodyTooLarge()
                return .httpDisconnect
            }
            return .httpRequest(body: Array(buffer.readableBytesView), moreBody: true)
        case .end:
            state.withLock { state in
                state.reading = false
                state.body = .done
                state.bodyDelivered = true
            }
            return .httpRequest(body: [], moreBody: false)
        case .head, .none:
            // The stream ended (the client left) or the parser got out of step: this request is over.
            connection.server.logger.debug("The request body ended early: \(Task.isCancelled ? "the read was cancelled" : "the client left") (closed: \(connection.isClosed)).")
            let waiters = state.withLock { state in
                state.reading = false
                state.body = .failed
                state.disconnected = true
                return state.takeWaiters()
            }
            for waiter in waiters { waiter.resume() }
            return .httpDisconnect
        }
    }

    /// The body grew past the limit: answer 413 if the application has not started its response,
    /// and close the connection afterwards either way.
    private func bodyTooLarge() async {
        let answer = state.withLock { state -> Bool in
            state.closeAfter = true
            guard !state.started else { return false }
            state.serverAnswered = true
            state.wireComplete = true
            state.status = 413
            return true
        }
        let server = connection.server
        server.logger.notice("Request body is over the limit of \(bodyLimit ?? 0) bytes; answered 413.")
        if answer {
            let (head, body) = ResponseHead.plain(
                status: .payloadTooLarge, version: version, close: true, body: "Payload Too Large", serverHeader: server.configuration.serverHeader
            )
            try? await connection.write([.head(head), .body(.byteBuffer(ByteBuffer(string: body))), .end(nil)])
        }
        resumeWaiters()
    }

    private func waitForResponseEndOrDisconnect() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.disconnected || state.wireComplete || state.serverAnswered || state.finished || Task.isCancelled {
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    private func resumeWaiters() {
        let waiters = state.withLock { $0.takeWaiters() }
        for waiter in waiters { waiter.resume() }
    }

    /// The client went away (the channel closed).
    func clientDisconnected() {
        let waiters = state.withLock { state in
            state.disconnected = true
            return state.takeWaiters()
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: send

    func send(_ event: SendEvent) async throws {
        switch event {
        case .httpResponseStart(let status, let headers, let trailers):
            let head = try ResponseHead(
                status: status, headers: headers, version: version,
                serverHeader: connection.server.configuration.serverHeader, event: event
            )
            try state.withLock { state in
                try checkOpen(state)
                try state.response.validate(event)
                state.pendingHead = head
                state.status = status
                state.started = true
                state.trailersEnabled = trailers && acceptsTrailers && !head.hasContentLength && !isHead
            }
        case .httpResponseBody(let body, let moreBody):
            let (parts, complete) = try state.withLock { state -> ([HTTPServerResponsePart], Bool) in
                try checkOpen(state)
                try state.response.validate(event)
                let writeEnd = !moreBody && !state.trailersEnabled
                var parts: [HTTPServerResponsePart] = []
                parts.reserveCapacity(3)
                if var head = state.pendingHead {
                    state.pendingHead = nil
                    finalize(&head, state: &state, bodyCount: body.count, complete: writeEnd)
                    state.headWritten = true
                    parts.append(.head(head.head))
                }
                if !body.isEmpty && !isHead {
                    parts.append(.body(.byteBuffer(allocator.buffer(bytes: body))))
                }
                if writeEnd {
                    parts.append(.end(nil))
                    state.wireComplete = true
                }
                return (parts, writeEnd)
            }
            if !parts.isEmpty { try await write(parts) }
            if complete { resumeWaiters() }
        case .httpResponseTrailers(let headers, let moreTrailers):
            let end = try state.withLock { state -> HTTPHeaders?? in
                try checkOpen(state)
                try state.response.validate(event)
                guard state.trailersEnabled else { return .none }
                for header in headers {
                    try Self.appendTrailer(header, to: &state.trailers, event: event)
                }
                guard !moreTrailers else { return .none }
                state.wireComplete = true
                return .some(state.trailers.isEmpty ? nil : state.trailers)
            }
            if let end {
                try await write([.end(end)])
                resumeWaiters()
            }
        case .httpResponsePathsend:
            throw ASGIProtocolError.unexpected(event, "this server does not offer the 'http.response.pathsend' extension")
        default:
            throw ASGIProtocolError.unexpected(event, "it is not an HTTP response event")
        }
    }

    private func checkOpen(_ state: State) throws {
        if state.disconnected || state.serverAnswered { throw HTTPServerError.clientDisconnected }
        if state.finished {
            throw ASGIProtocolError("send() was called after the application returned from its call for this request.")
        }
    }

    /// Framing headers the application left to the server; decides whether the connection closes.
    private func finalize(_ head: inout ResponseHead, state: inout State, bodyCount: Int, complete: Bool) {
        var close = !requestKeepAlive || wantsUpgrade || head.connectionClose || state.closeAfter
        let mayHaveBody = head.head.status.mayHaveResponseBody && !isHead
        if !head.hasContentLength && mayHaveBody {
            if complete {
                // One body event: its length is known, so the response needs no chunking.
                head.head.headers.add(name: "content-length", value: String(bodyCount))
            } else if version.minor == 0 {
                // HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection.
                close = true
            }
        }
        if close {
            state.closeAfter = true
            if !head.connectionClose { head.head.headers.add(name: "connection", value: "close") }
        } else if version.minor == 0 {
            head.head.headers.add(name: "connection", value: "keep-alive")
        }
    }

    private static func appendTrailer(_ header: ASGIHeader, to fields: inout HTTPHeaders, event: SendEvent) throws {
        let bad = header.name.isEmpty
            || header.name.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: ":") || $0 >= 0x7F })
            || header.value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 })
        if bad {
            throw ASGIProtocolError.unexpected(event, "trailer '\(String(decoding: header.name, as: UTF8.self))' is not a valid HTTP field")
        }
        fields.add(name: String(decoding: header.name, as: UTF8.self), value: String(decoding: header.value, as: UTF8.self))
    }

    private func write(_ parts: [HTTPServerResponsePart]) async throws {
        do {
            try await connection.write(parts)
        } catch {
            clientDisconnected()
            throw error
        }
    }

    // MARK: After the application

    /// Whether the request body was read to its end.
    var bodyConsumed: Bool {
        state.withLock { $0.body == .done }
    }

    /// Request body bytes read so far.
    var bodyBytesRead: Int {
        state.withLock { $0.bodyBytes }
    }

    /// Takes the read turn to drain the body; `false` if something still holds it or the body failed.
    func takeReadTurnForDrain() -> Bool {
        state.withLock { state in
            guard !state.reading, state.body == .open else { return false }
            state.reading = true
            return true
        }
    }

    /// Takes the read turn to discard what the client still sends before the connection closes;
    /// `false` if a `receive()` still holds it.
    func takeReadTurnForDiscard() -> Bool {
        state.withLock { state in
            guard !state.reading else { return false }
            state.reading = true
            return true
        }
    }

    /// Settles the response after the application's call returned or threw: a 500 when nothing
    /// reached the client, an aborted connection when a response was cut short.
    func finish(failure: (any Error)?, method: HTTPMethod, target: RequestTarget) async -> Outcome {
        let (snapshot, waiters) = state.withLock { state in
            state.finished = true
            return (state, state.takeWaiters())
        }
        for waiter in waiters { waiter.resume() }
        let logger = connection.server.logger
        let where_ = "\(method.rawValue) \(target.path)"

        // A client waiting for `100 Continue` that never came may never send the body.
        let bodyUnreadable = snapshot.body == .open && (snapshot.reading || (expectsContinue && !snapshot.continueSent))
        var keepAlive = requestKeepAlive && !snapshot.closeAfter && !wantsUpgrade && !bodyUnreadable
            && snapshot.body != .failed

        if snapshot.serverAnswered {
            return Outcome(status: snapshot.status, keepAlive: false)
        }
        if let failure {
            if let error = failure as? HTTPServerError, error.code == .clientDisconnected {
                logger.debug("Client disconnected during \(where_).")
                if !snapshot.wireComplete { connection.abort() }
                return Outcome(status: snapshot.status, keepAlive: false)
            }
            if snapshot.disconnected {
                logger.debug("Application failed after the client disconnected during \(where_): \(String(describing: failure))")
                return Outcome(status: snapshot.status, keepAlive: false)
            }
            if failure is CancellationError && Task.isCancelled {
                // The server cut the request off (the graceful-shutdown period ran out): a client
                // still waiting for its answer gets 503, which it may retry elsewhere; one already
                // reading the response sees the connection end.
                logger.warning("Request cancelled by the server shutting down (\(where_)).")
                if !snapshot.headWritten {
                    await plainAnswer(.serviceUnavailable, body: "Service Unavailable", close: true)
                    return Outcome(status: 503, keepAlive: false)
                }
                if !snapshot.wireComplete { connection.abort() }
                return Outcome(status: snapshot.status, keepAlive: false)
            }
            if !snapshot.headWritten {
                logger.error("Exception in ASGI application (\(where_)): \(String(describing: failure))")
                await internalServerError(close: !keepAlive)
                return Outcome(status: 500, keepAlive: keepAlive)
            }
            logger.error("Exception in ASGI application after its response started (\(where_)): \(String(describing: failure))")
            if !snapshot.wireComplete {
                connection.abort()
                keepAlive = false
            }
            return Outcome(status: snapshot.status, keepAlive: keepAlive)
        }
        if snapshot.wireComplete {
            return Outcome(status: snapshot.status, keepAlive: keepAlive)
        }
        if snapshot.disconnected {
            return Outcome(status: snapshot.status, keepAlive: false)
        }
        if !snapshot.headWritten {
            let what = snapshot.started ? "completing" : "starting"
            logger.error("ASGI callable returned without \(what) its response (\(where_)).")
            await internalServerError(close: !keepAlive)
            return Outcome(status: 500, keepAlive: keepAlive)
        }
        logger.error("ASGI callable returned without completing its response (\(where_)); closing the connection.")
        connection.abort()
        return Outcome(status: snapshot.status, keepAlive: false)
    }

    private func internalServerError(close: Bool) async {
        await plainAnswer(.internalServerError, body: "Internal Server Error", close: close)
    }

    /// Answers for the application with a plain-text body.
    private func plainAnswer(_ status: HTTPResponseStatus, body: String, close: Bool) async {
        let (head, body) = ResponseHead.plain(
            status: status, version: version, close: close, body: body,
            serverHeader: connection.server.configuration.serverHeader
        )
        try? await connection.write([.head(head), .body(.byteBuffer(ByteBuffer(string: body))), .end(nil)])
    }
}
