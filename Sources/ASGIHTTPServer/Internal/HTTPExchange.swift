@_spi(ASGIFrontend) import ASGI
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One HTTP request and its response: the `receive` and `send` an application gets.
///
/// - `receive()` pulls the request body from the connection as the application asks for it (the
///   channel's inbound back-pressure stops reading from the socket meanwhile). Once the body is
///   read it waits until the response is complete or the client leaves, then returns
///   `http.disconnect` (as uvicorn does).
/// - `send()` checks each event with `HTTPResponseState`, holds the head back until the first
///   body event (so an error can still become a 500), writes and flushes each body event within
///   the head's framing (``ASGI/ResponseFraming``: none for `HEAD` and bodiless statuses, never past
///   the declared `Content-Length`), and suspends while the channel is not writable.
/// - `http.response.pathsend` goes out with `sendfile` (a NIO `FileRegion`): the file's bytes never
///   pass through this process's memory.
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
        var framing: ResponseFraming?
        var status = 0
        var started = false
        var headWritten = false
        /// The response's final part is on its way: the connection may carry another request.
        var wireComplete = false
        var trailersEnabled = false
        var trailers = HTTPHeaders()
        var closeAfter = false
        /// The application broke the head's framing (reported once).
        var framingBroken = false
        var body = Body.open
        /// The application has seen the body's last event.
        var bodyDelivered = false
        var bodyBytes = 0
        /// A `receive()` (or the drain after the application) holds the read turn.
        var reading = false
        var continueSent = false
        var disconnected = false
        /// The server answered for the application (413, 408): its later sends fail.
        var serverAnswered = false
        /// Body bytes of the server's answer.
        var answeredBytes = 0
        /// How long the next wait for body bytes may last.
        var bodyClock: BodyReadClock
        var finished = false
        var nextWaiter = 0
        var waiters: [Int: UnsafeContinuation<Void, Never>] = [:]

        init(bodyClock: BodyReadClock) {
            self.bodyClock = bodyClock
        }

        mutating func takeWaiters() -> [UnsafeContinuation<Void, Never>] {
            guard !waiters.isEmpty else { return [] }
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
    }

    /// How the application's call ended, for the connection.
    struct Outcome {
        /// The status that went out (`nil`: none did).
        var status: Int?
        var keepAlive: Bool
        /// Response body bytes written.
        var bytes: Int = 0
        /// The response was cut.
        var aborted = false
    }

    private let connection: HTTPConnection
    private let version: HTTPVersion
    private let method: String
    private let expectsContinue: Bool
    private let acceptsTrailers: Bool
    private let requestKeepAlive: Bool
    private let wantsUpgrade: Bool
    private let bodyLimit: Int?
    private let allocator: ByteBufferAllocator
    private let state: Mutex<State>

    /// - Parameters:
    ///   - bodyDone: the request has no body and its end was already read.
    ///   - lastOnConnection: the connection has served as many requests as it may: this response
    ///     says `Connection: close` and the connection ends after it.
    init(connection: HTTPConnection, head: HTTPRequestHead, request: RequestHead, bodyDone: Bool, lastOnConnection: Bool = false) {
        self.connection = connection
        self.version = head.version
        self.method = head.method.rawValue
        self.expectsContinue = request.expectsContinue
        self.acceptsTrailers = request.acceptsTrailers && head.version.major == 1 && head.version.minor >= 1
        self.requestKeepAlive = request.keepAlive && !lastOnConnection
        self.wantsUpgrade = request.wantsUpgrade
        self.bodyLimit = connection.server.configuration.maxRequestBodyBytes
        self.allocator = connection.channel.allocator
        let configuration = connection.server.configuration
        var initial = State(bodyClock: BodyReadClock(readTimeout: configuration.bodyReadTimeout, minimumRate: configuration.minimumBodyDataRate))
        if bodyDone { initial.body = .done }
        self.state = Mutex(initial)
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
                    throw ASGIProtocolError(.concurrentReceive, "receive() was called while another receive() is still reading the request body.")
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
            let allowance = state.withLock { $0.bodyClock.allowance }
            let waitStarted = ContinuousClock.now
            let part: HTTPServerRequestPart?
            do {
                part = try await connection.nextPartShielded(timeout: allowance)
            } catch is CancellationError {
                // The read goes on; what it gets is kept for the next receive() (or the drain).
                state.withLock { $0.reading = false }
                throw CancellationError()
            } catch is InboundReadTimeout {
                await bodyTimedOut()
                return .httpDisconnect
            } catch {
                part = nil
            }
            if case .body(let buffer) = part {
                let waited = ContinuousClock.now - waitStarted
                state.withLock { $0.bodyClock.record(bytes: buffer.readableBytes, waited: waited) }
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
            connection.server.logger.debug(
                "The request body ended early: \(Task.isCancelled ? "the read was cancelled" : "the client left") (closed: \(connection.isClosed))."
            )
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
        let refusal = PlainResponse.bodyTooLarge(limit: bodyLimit ?? 0)
        connection.server.logger.notice("Refused a request: \(refusal.text)")
        await answerForApplication(refusal)
    }

    /// The client stopped sending its body (no bytes within the read timeout, or slower than the
    /// minimum data rate): 408 if the application has not started its response, and the
    /// connection closes afterwards either way; the application's `receive()` gets
    /// `http.disconnect`.
    private func bodyTimedOut() async {
        let clock = state.withLock { state -> BodyReadClock in
            state.reading = false
            state.body = .failed
            return state.bodyClock
        }
        let refusal = PlainResponse.bodyReadTimeout
        connection.server.logger.notice("Request body too slow after \(clock.bytes) bytes; answering 408 and closing the connection.")
        await answerForApplication(refusal)
    }

    /// Answers `response` in the application's place if its response has not started; closes the
    /// connection after this request either way.
    private func answerForApplication(_ response: PlainResponse) async {
        let answer = state.withLock { state -> Bool in
            state.closeAfter = true
            guard !state.started else { return false }
            state.serverAnswered = true
            state.wireComplete = true
            state.status = response.status
            state.answeredBytes = response.body.count
            return true
        }
        if answer {
            try? await connection.write(
                ResponseHead.plain(response, version: version, close: true, serverHeader: connection.server.configuration.serverHeader)
            )
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
            let framing = try ResponseFraming.checkingStart(status: status, headers: headers, requestMethod: method, event: event)
            let head = try ResponseHead(
                status: status,
                headers: headers,
                version: version,
                serverHeader: connection.server.configuration.serverHeader,
                event: event
            )
            try state.withLock { state in
                try checkOpen(state)
                try state.response.validate(event)
                state.pendingHead = head
                state.framing = framing
                state.status = status
                state.started = true
                state.trailersEnabled = trailers && acceptsTrailers && !head.hasContentLength && framing.bodyAllowed
            }
        case .httpResponseBody(let body, let moreBody):
            let (parts, complete, broken) = try state.withLock { state -> ([HTTPServerResponsePart], Bool, FramingBreak?) in
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
                let allowed = state.framing?.admit(body.count) ?? body.count
                if allowed > 0 {
                    let buffer = allowed == body.count ? allocator.buffer(bytes: body) : allocator.buffer(bytes: body.prefix(allowed))
                    parts.append(.body(.byteBuffer(buffer)))
                }
                if writeEnd {
                    parts.append(.end(nil))
                    state.wireComplete = true
                }
                return (parts, writeEnd, framingBreak(&state, atEnd: !moreBody))
            }
            if let broken { logFramingBreak(broken) }
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
        case .httpResponsePathsend(let path):
            try await sendFile(path, event: event)
        default:
            throw ASGIProtocolError.unexpected(event, "it is not an HTTP response event")
        }
    }

    /// `http.response.pathsend`: the head (with the file's size as `Content-Length` when the
    /// application gave none), the file as a `FileRegion` (`sendfile`), the end.
    private func sendFile(_ path: String, event: SendEvent) async throws {
        try state.withLock { state in
            try checkOpen(state)
            try state.response.validate(event)
        }
        guard path.hasPrefix("/") else {
            throw ASGIProtocolError.unexpected(event, "the path '\(path)' is not absolute")
        }
        try await NonBlockingFileIO(threadPool: .singleton).withFileRegion(_deprecatedPath: path) { region in
            let size = region.readableBytes
            let (parts, regionLength) = try state.withLock { state -> ([HTTPServerResponsePart], Int) in
                try checkOpen(state)
                guard var head = state.pendingHead, var framing = state.framing else {
                    throw ASGIProtocolError.unexpected(event, "'http.response.start' must come first")
                }
                state.pendingHead = nil
                if framing.declaredLength == nil {
                    head.head.headers.add(name: "content-length", value: String(size))
                    head.hasContentLength = true
                    framing = try ResponseFraming(status: framing.status, headers: [("content-length", String(size))], requestMethod: method)
                }
                let length = framing.admit(size)
                // A file shorter than the declared length leaves the client waiting for bytes that
                // never come: the connection closes after it.
                if framing.breaksConnection { state.closeAfter = true }
                state.framing = framing
                finalize(&head, state: &state, bodyCount: length, complete: true)
                state.headWritten = true
                state.wireComplete = true
                var parts: [HTTPServerResponsePart] = [.head(head.head)]
                if length > 0 {
                    let piece = FileRegion(fileHandle: region.fileHandle, readerIndex: region.readerIndex, endIndex: region.readerIndex + length)
                    parts.append(.body(.fileRegion(piece)))
                }
                parts.append(.end(nil))
                return (parts, length)
            }
            do {
                try await connection.writeAndWait(parts, bytes: regionLength)
            } catch {
                clientDisconnected()
                throw error
            }
        }
        resumeWaiters()
    }

    /// How an application broke its response's framing.
    private enum FramingBreak {
        /// More body than the declared `Content-Length`: the rest was dropped.
        case overrun(declared: Int)
        /// The body ended short of the declared `Content-Length`.
        case shortfall(declared: Int, sent: Int)
    }

    /// Whether the body just admitted broke the head's framing (reported once per response): the
    /// connection then closes after this response, so the client never reads a following response
    /// as body, nor dropped bytes as the next response.
    private func framingBreak(_ state: inout State, atEnd: Bool) -> FramingBreak? {
        guard !state.framingBroken, let framing = state.framing, let declared = framing.declaredLength else { return nil }
        if framing.overrun > 0 {
            state.framingBroken = true
            state.closeAfter = true
            return .overrun(declared: declared)
        }
        if atEnd, framing.shortfall != nil {
            state.framingBroken = true
            state.closeAfter = true
            return .shortfall(declared: declared, sent: framing.sent)
        }
        return nil
    }

    private func logFramingBreak(_ broken: FramingBreak) {
        let logger = connection.server.logger
        switch broken {
        case .overrun(let declared):
            logger.error(
                "ASGI application sent more body than its Content-Length of \(declared) bytes (\(method) request); the body was cut at that length and the connection will close."
            )
        case .shortfall(let declared, let sent):
            logger.error(
                "ASGI application ended its body after \(sent) of the \(declared) bytes its Content-Length announced (\(method) request); the connection will close."
            )
        }
    }

    private func checkOpen(_ state: State) throws {
        if state.disconnected || state.serverAnswered { throw ClientDisconnectedError.connectionClosed }
        if state.finished {
            throw ASGIProtocolError(.afterCompletion, "send() was called after the application returned from its call for this request.")
        }
    }

    /// Framing headers the application left to the server; decides whether the connection closes.
    private func finalize(_ head: inout ResponseHead, state: inout State, bodyCount: Int, complete: Bool) {
        var close = !requestKeepAlive || wantsUpgrade || head.connectionClose || state.closeAfter
        let mayHaveBody = state.framing?.bodyAllowed ?? true
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
        if let problem = HTTPFieldValidator.problem(with: header) {
            throw ASGIProtocolError.unexpected(event, problem)
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
    func finish(failure: (any Error)?, method: HTTPMethod, path: String) async -> Outcome {
        let (snapshot, waiters) = state.withLock { state in
            state.finished = true
            return (state, state.takeWaiters())
        }
        for waiter in waiters { waiter.resume() }
        let logger = connection.server.logger
        let where_ = "\(method.rawValue) \(path)"
        let status = snapshot.headWritten ? snapshot.status : nil
        let bytes = snapshot.framing?.sent ?? 0

        // A client waiting for `100 Continue` that never came may never send the body.
        let bodyUnreadable = snapshot.body == .open && (snapshot.reading || (expectsContinue && !snapshot.continueSent))
        let keepAlive =
            requestKeepAlive && !snapshot.closeAfter && !wantsUpgrade && !bodyUnreadable
            && snapshot.body != .failed

        /// The response went out (or did not), and the connection is not kept.
        func ended(aborted: Bool) -> Outcome {
            Outcome(status: status, keepAlive: false, bytes: bytes, aborted: aborted)
        }

        if snapshot.serverAnswered {
            return Outcome(status: snapshot.status, keepAlive: false, bytes: snapshot.answeredBytes)
        }
        if let failure {
            if failure is ClientDisconnectedError {
                logger.debug("Client disconnected during \(where_).")
                if !snapshot.wireComplete { connection.abort() }
                return ended(aborted: !snapshot.wireComplete)
            }
            if snapshot.disconnected {
                logger.debug("Application failed after the client disconnected during \(where_): \(String(describing: failure))")
                return ended(aborted: !snapshot.wireComplete)
            }
            if failure is CancellationError && Task.isCancelled {
                // The server cut the request off (the graceful-shutdown period ran out): a client
                // still waiting for its answer gets 503, which it may retry elsewhere; one already
                // reading the response sees the connection end.
                logger.warning("Request cancelled by the server shutting down (\(where_)).")
                if !snapshot.headWritten {
                    return await answer(.serviceUnavailable, close: true)
                }
                if !snapshot.wireComplete { connection.abort() }
                return ended(aborted: !snapshot.wireComplete)
            }
            if !snapshot.headWritten {
                logger.error("Exception in ASGI application (\(where_)): \(String(describing: failure))")
                return await answer(.internalServerError, close: !keepAlive)
            }
            logger.error("Exception in ASGI application after its response started (\(where_)): \(String(describing: failure))")
            if !snapshot.wireComplete {
                connection.abort()
                return ended(aborted: true)
            }
            return Outcome(status: status, keepAlive: keepAlive, bytes: bytes)
        }
        if snapshot.wireComplete {
            return Outcome(status: status, keepAlive: keepAlive, bytes: bytes)
        }
        if snapshot.disconnected {
            return ended(aborted: true)
        }
        if !snapshot.headWritten {
            let what = snapshot.started ? "completing" : "starting"
            logger.error("ASGI callable returned without \(what) its response (\(where_)).")
            return await answer(.internalServerError, close: !keepAlive)
        }
        logger.error("ASGI callable returned without completing its response (\(where_)); closing the connection.")
        connection.abort()
        return ended(aborted: true)
    }

    /// Answers for the application (the package's plain answer).
    private func answer(_ response: PlainResponse, close: Bool) async -> Outcome {
        try? await connection.write(
            ResponseHead.plain(response, version: version, close: close, serverHeader: connection.server.configuration.serverHeader)
        )
        return Outcome(status: response.status, keepAlive: !close, bytes: response.body.count)
    }
}
