@_spi(ASGIFrontend) import ASGI
import CFastCGI
import Glibc
import Synchronization

/// One request's I/O on its libfcgi `FCGX_Request`: reads of the body, writes of the response,
/// and what the watchdog may do to it from another thread (time it out, abort it, notice the web
/// server hanging up).
///
/// The worker thread owns the request: it reads (only it touches the input stream) and writes
/// (under `output`). The watchdog writes only a 504 before the response has started, under the same
/// lock, and touches the socket (`shutdown`, `poll`) only while `shared.socketValid`, which the
/// worker clears before libfcgi may close the socket.
///
/// Unchecked `Sendable`: the input stream, `bodyRead` and `inputFinished` are touched only on the
/// worker thread (`read` refuses any other); the output stream and its state only under `output`,
/// and never once `finished` is set there (``markFinished()``, before libfcgi reuses `raw`);
/// the socket and the disconnect handler only under `shared`; `flags` is atomic and the rest
/// immutable.
final class FastCGIRequest: @unchecked Sendable {
    private enum Flag {
        static let timedOut: UInt8 = 1
        static let aborted: UInt8 = 2
        static let disconnected: UInt8 = 4
        /// The worker finished the request: the libfcgi request it wrote through serves the
        /// next request now, so nothing of this one may touch it again.
        static let finished: UInt8 = 8
    }

    private struct OutputState {
        var headWritten = false
        var completed = false
        var status = 0
        var bodyBytes = 0
        /// A last chunk past libfcgi's buffer, held for the end of the request to go with it.
        var last: (head: [UInt8], body: [UInt8])? = nil
    }

    private struct SharedState {
        var socketValid = true
        var disconnectHandler: (@Sendable () -> Void)? = nil
        var slowLogged = false
    }

    let raw: UnsafeMutablePointer<FCGX_Request>
    let socket: Int32
    let workerThread: pthread_t
    let workerIndex: Int
    let startNanos: UInt64
    let head: RequestHead
    private let maxBodyBytes: Int?

    private let flags = Atomic<UInt8>(0)
    private let output = Mutex(OutputState())
    private let shared = Mutex(SharedState())

    /// Body bytes read so far (worker only).
    private(set) var bodyRead = 0
    /// Whether the body's end (the empty `FCGI_STDIN` record) was read (worker only).
    private(set) var inputFinished = false

    init(
        raw: UnsafeMutablePointer<FCGX_Request>,
        workerThread: pthread_t,
        workerIndex: Int,
        startNanos: UInt64,
        head: RequestHead,
        maxBodyBytes: Int?
    ) {
        self.raw = raw
        self.socket = raw.pointee.ipcFd
        self.workerThread = workerThread
        self.workerIndex = workerIndex
        self.startNanos = startNanos
        self.head = head
        self.maxBodyBytes = maxBodyBytes
    }

    var isTimedOut: Bool { flags.load(ordering: .acquiring) & Flag.timedOut != 0 }
    var isAborted: Bool { flags.load(ordering: .acquiring) & Flag.aborted != 0 }
    var isDisconnected: Bool { flags.load(ordering: .acquiring) & Flag.disconnected != 0 }
    /// Whether the request can no longer complete normally (timed out, aborted, client gone).
    var isBroken: Bool { flags.load(ordering: .acquiring) & ~Flag.finished != 0 }
    /// Whether the calling thread is this request's worker thread.
    var onWorkerThread: Bool { pthread_equal(pthread_self(), workerThread) != 0 }

    /// Status and body bytes sent, for the access log.
    var responseSummary: (status: Int, bytes: Int, started: Bool) {
        output.withLock { ($0.status, $0.bodyBytes, $0.headWritten) }
    }

    // MARK: Reading the body

    /// Up to `maxBytes` body bytes (blocking until at least one arrives), or `[]` at the end.
    /// - Throws: `ClientDisconnectedError` (web server gone, body shorter than its
    ///   `CONTENT_LENGTH`, no data for the read timeout), ``WSGIError`` `requestBodyTooLarge`,
    ///   ``FastCGIError`` `requestTimedOut`.
    func read(upTo maxBytes: Int) throws -> [UInt8] {
        // `wsgi.input` is Sendable, but this request's input belongs to its worker thread.
        guard onWorkerThread else {
            throw ASGIProtocolError(
                .offThread,
                "The request body (wsgi.input) was read off the request's worker thread; read it on the application's thread."
            )
        }
        return try readChunk(upTo: maxBytes, finishedAllowed: false)
    }

    /// The read itself (worker only). `finishedAllowed`: the worker's own drain after the request
    /// finished (``drainInput(limit:)``), which a finished request's application may not do.
    private func readChunk(upTo maxBytes: Int, finishedAllowed: Bool) throws -> [UInt8] {
        if inputFinished { return [] }
        try checkUsable(finishedAllowed: finishedAllowed)
        guard let stream = raw.pointee.in else { return [] }
        let wanted = max(1, min(maxBytes, 1 << 20))
        var chunk: [UInt8]
        if buffered(stream) == 0 {
            // Block for the next record.
            let first = FCGX_GetChar(stream)
            guard first >= 0 else { return try endOfInput(stream) }
            chunk = [UInt8(truncatingIfNeeded: first)]
            let more = min(buffered(stream), wanted - 1)
            if more > 0 { chunk += take(more, from: stream) }
        } else {
            chunk = take(min(buffered(stream), wanted), from: stream)
        }
        bodyRead += chunk.count
        if let limit = maxBodyBytes, bodyRead > limit {
            throw WSGIError(.requestBodyTooLarge, "The request body is larger than the limit of \(limit) bytes.")
        }
        return chunk
    }

    /// Reads and drops the rest of the body, up to `limit` bytes; whether its end was reached.
    /// The worker calls it after ``markFinished()`` (the application may no longer read then, but
    /// the connection can be kept only once the body's end is read).
    func drainInput(limit: Int) -> Bool {
        guard onWorkerThread else { return false }
        var drained = 0
        while !inputFinished {
            guard let chunk = try? readChunk(upTo: ServerDefaults.chunkSize, finishedAllowed: true) else { return false }
            drained += chunk.count
            if drained > limit { return false }
        }
        return true
    }

    private func buffered(_ stream: UnsafeMutablePointer<FCGX_Stream>) -> Int {
        guard let next = stream.pointee.rdNext, let stop = stream.pointee.stop else { return 0 }
        return max(0, stop - next)
    }

    private func take(_ count: Int, from stream: UnsafeMutablePointer<FCGX_Stream>) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let got = buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: count) {
                FCGX_GetStr($0, Int32(count), stream)
            }
            initialized = Int(max(0, got))
        }
    }

    private func endOfInput(_ stream: UnsafeMutablePointer<FCGX_Stream>) throws -> [UInt8] {
        let error = FCGX_GetError(stream)
        if error != 0 {
            if isTimedOut { throw timeoutError }
            markDisconnected()
            if error == EAGAIN || error == EWOULDBLOCK {
                throw ClientDisconnectedError(.readTimedOut, "No request body data arrived within the read timeout.")
            }
            throw ClientDisconnectedError.connectionClosed
        }
        if let declared = head.contentLength, bodyRead < declared {
            markDisconnected()
            throw ClientDisconnectedError(
                .bodyIncomplete,
                "The request body ended after \(bodyRead) of the \(declared) bytes its CONTENT_LENGTH declared."
            )
        }
        inputFinished = true
        return []
    }

    // MARK: Writing the response

    /// Writes `head` (the CGI response head, if not written yet) and `body`; flushes to the web
    /// server when `flush` is set (streaming), else leaves it for the end of the request to take
    /// (a final chunk: it goes out with `FCGI_END_REQUEST`).
    /// - Throws: `ClientDisconnectedError`, ``FastCGIError`` `requestTimedOut`.
    func write(head: [UInt8]?, status: Int, body: [UInt8], flush: Bool) throws {
        try output.withLock { state in
            try checkUsable()
            guard !state.completed else {
                throw ASGIProtocolError(.afterCompletion, "The response is already complete; nothing more can be written.")
            }
            guard let out = raw.pointee.out else { throw ClientDisconnectedError.connectionClosed }
            if head != nil {
                precondition(!state.headWritten, "the response head is written once")
                state.headWritten = true
                state.status = status
            }
            // A chunk held as the last one, yet more follows: it goes first.
            sendHeldLast(&state, out: out, ending: false)
            if body.count >= Self.directWriteMinimum {
                // Larger than libfcgi's 8 KiB buffer: what the buffer holds, then the head and the
                // body in records of our own with one sendmsg, instead of a write per bufferful.
                // When the end of the request follows at once (no flush), they wait for it and
                // leave together (``completeResponse()``): one write, and a client that closes as
                // soon as its Content-Length is in cannot close before the web server read the end
                // (the web server would drop the kept connection).
                if FCGX_FFlush(out) == 0 {
                    if flush {
                        let failure = (head ?? []).withUnsafeBytes { head in
                            body.withUnsafeBytes { body in
                                FastCGIRecords.writeStdout(socket, requestID: raw.pointee.requestId, head, body)
                            }
                        }
                        if failure != 0 { Self.recordFailure(failure, on: out) }
                    } else {
                        // Held, not copied: the array is the caller's chunk.
                        state.last = (head ?? [], body)
                    }
                }
            } else {
                if let head {
                    head.withUnsafeBufferPointer { bytes in
                        bytes.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), out) }
                    }
                }
                if !body.isEmpty {
                    body.withUnsafeBufferPointer { bytes in
                        bytes.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), out) }
                    }
                }
            }
            state.bodyBytes += body.count
            if flush { _ = FCGX_FFlush(out) }
            if FCGX_GetError(out) != 0 {
                if isTimedOut { throw timeoutError }
                markDisconnected()
                throw ClientDisconnectedError.connectionClosed
            }
        }
    }

    /// Sends the chunk held as the last one, if any (libfcgi's buffer is empty then); with
    /// `ending`, the end of the stream and `FCGI_END_REQUEST` go with it, and libfcgi's output
    /// stream is marked closed as `FCGX_FClose` would leave it. Whether it sent one.
    @discardableResult
    private func sendHeldLast(_ state: inout OutputState, out: UnsafeMutablePointer<FCGX_Stream>, ending: Bool) -> Bool {
        guard let last = state.last else { return false }
        state.last = nil
        let failure = last.head.withUnsafeBytes { head in
            last.body.withUnsafeBytes { body in
                FastCGIRecords.writeStdout(
                    socket,
                    requestID: raw.pointee.requestId,
                    head,
                    body,
                    endingWith: ending ? raw.pointee.appStatus : nil
                )
            }
        }
        if failure != 0 { Self.recordFailure(failure, on: out) }
        if ending {
            out.pointee.wasFCloseCalled = 1
            out.pointee.isClosed = 1
            out.pointee.stop = out.pointee.wrNext
            out.pointee.rdNext = out.pointee.wrNext
        }
        return true
    }

    /// Records a failed write of our own as libfcgi records its own: the stream reports it from now on.
    private static func recordFailure(_ code: Int32, on out: UnsafeMutablePointer<FCGX_Stream>) {
        if out.pointee.FCGI_errno == 0 { out.pointee.FCGI_errno = code }
        out.pointee.isClosed = 1
    }

    /// A body chunk this large or larger skips libfcgi's output buffer (8 KiB, one `write` per
    /// bufferful) and goes out in `FCGI_STDOUT` records of our own, with one `sendmsg`
    /// (``FastCGIRecords``).
    static let directWriteMinimum = 8 * 1024

    /// Whether the response head has been written.
    var headWritten: Bool { output.withLock { $0.headWritten } }

    /// Ends the response now that the application produced all of it: flushes what is buffered
    /// with `FCGI_END_REQUEST`, so the web server completes the response while the handler may
    /// still run (work after the last byte, a WSGI body's `close()`). Later writes fail.
    ///
    /// On a connection the web server did not ask to keep, the writing side is shut down too:
    /// nginx finishes such a response only at end of file when the end records arrive together
    /// with the head (it leaves them in its preread buffer until the next read event).
    func completeResponse() {
        output.withLock { state in
            // Not once finished either: `raw` may serve the next request by then.
            guard state.headWritten, !state.completed, flags.load(ordering: .acquiring) == 0, let out = raw.pointee.out else { return }
            state.completed = true
            _ = FCGX_FClose(raw.pointee.err)
            if !sendHeldLast(&state, out: out, ending: true) {
                _ = FCGX_FClose(out)
            }
            if raw.pointee.keepConnection == 0 {
                _ = shutdown(socket, Int32(SHUT_WR))
            }
        }
    }

    /// Answers in place of the application if nothing has been written yet; whether it did.
    @discardableResult
    func respond(_ response: PlainResponse) -> Bool {
        output.withLock { state in
            // Not once finished either: `raw` may serve the next request by then.
            guard !state.headWritten, flags.load(ordering: .acquiring) == 0, let out = raw.pointee.out else { return false }
            let bytes = Self.responseHead(status: response.status, headers: response.headers) + response.body
            state.headWritten = true
            state.status = response.status
            state.bodyBytes = response.body.count
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), out) }
            }
            return FCGX_GetError(out) == 0
        }
    }

    /// A CGI response head: `Status:` with the reason phrase, then the headers (checked by whoever
    /// took them from the application: the WSGI driver, the ASGI exchange).
    static func responseHead(status: Int, headers: ASGIHeaders) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 + headers.count * 32)
        bytes += "Status: \(HTTPStatus.statusLine(status))\r\n".utf8
        for header in headers {
            bytes += header.name
            bytes += [UInt8(ascii: ":"), UInt8(ascii: " ")]
            bytes += header.value
            bytes += [0x0D, 0x0A]
        }
        bytes += [0x0D, 0x0A]
        return bytes
    }

    // MARK: Ending

    /// Called by the worker when the handler is done, before libfcgi may close the socket: the
    /// watchdog leaves the request alone from now on.
    func markFinished() {
        let handler = output.withLock { _ in
            // Under the output lock: a write in progress ends first, and every later one (an
            // application task that outlived its request) is refused.
            flags.bitwiseOr(Flag.finished, ordering: .acquiringAndReleasing)
            return shared.withLock { state -> (@Sendable () -> Void)? in
                state.socketValid = false
                defer { state.disconnectHandler = nil }
                return state.disconnectHandler
            }
        }
        handler?()
    }

    // MARK: Watchdog side

    /// The request ran past its timeout: answer 504 if nothing was written yet, cut the connection,
    /// and make the application's next read or write fail. Returns whether a 504 went out.
    @discardableResult
    func timeOut(after seconds: Double) -> Bool {
        flags.bitwiseOr(Flag.timedOut, ordering: .acquiringAndReleasing)
        let answered =
            output.withLockIfAvailable { state -> Bool in
                guard !state.headWritten, shared.withLock({ $0.socketValid }), let out = raw.pointee.out else { return false }
                let answer = PlainResponse(status: 504, detail: "the application did not answer within \(Self.format(seconds)) seconds")
                let bytes = Self.responseHead(status: answer.status, headers: answer.headers) + answer.body
                state.headWritten = true
                state.status = 504
                state.bodyBytes = answer.body.count
                bytes.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), out) }
                }
                // FCGI_END_REQUEST now: nginx completes the 504 at once.
                _ = FCGX_FClose(raw.pointee.err)
                _ = FCGX_FClose(out)
                return true
            } ?? false
        cutConnection()
        return answered
    }

    /// Cuts the connection (graceful-shutdown deadline, cancellation): reads and writes fail.
    func abort() {
        flags.bitwiseOr(Flag.aborted, ordering: .acquiringAndReleasing)
        cutConnection()
    }

    /// Checks (without blocking) whether the web server hung up, for a request whose application
    /// waits for `http.disconnect`; if so, marks it and calls the waiting handler.
    func pollHangUp() {
        let handler = shared.withLock { state -> (@Sendable () -> Void)? in
            guard state.socketValid, state.disconnectHandler != nil else { return nil }
            var fds = [pollfd(fd: socket, events: Posix.pollReadHangUp, revents: 0)]
            guard Posix.poll(&fds, timeoutMilliseconds: 0) > 0,
                fds[0].revents & (Posix.pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0
            else { return nil }
            flags.bitwiseOr(Flag.disconnected, ordering: .acquiringAndReleasing)
            defer { state.disconnectHandler = nil }
            return state.disconnectHandler
        }
        handler?()
    }

    /// Registers `handler` to run once when the request breaks (client gone, timeout, abort) or
    /// finishes; runs it at once if that already happened.
    func onDisconnect(_ handler: @escaping @Sendable () -> Void) {
        let runNow = shared.withLock { state -> Bool in
            guard state.socketValid, !isBroken else { return true }
            state.disconnectHandler = handler
            return false
        }
        if runNow { handler() }
    }

    /// Removes a registered disconnect handler (its waiter was cancelled); whether it was there.
    func removeDisconnectHandler() -> (@Sendable () -> Void)? {
        shared.withLock { state in
            defer { state.disconnectHandler = nil }
            return state.disconnectHandler
        }
    }

    /// Whether the slow-request log line was written; sets it.
    func markSlowLogged() -> Bool {
        shared.withLock { state in
            defer { state.slowLogged = true }
            return !state.slowLogged
        }
    }

    var wasSlow: Bool { shared.withLock { $0.slowLogged } }

    private func cutConnection() {
        let handler = shared.withLock { state -> (@Sendable () -> Void)? in
            if state.socketValid { _ = shutdown(socket, Int32(SHUT_RDWR)) }
            defer { state.disconnectHandler = nil }
            return state.disconnectHandler
        }
        handler?()
    }

    private func markDisconnected() {
        flags.bitwiseOr(Flag.disconnected, ordering: .acquiringAndReleasing)
    }

    private var timeoutError: FastCGIError {
        FastCGIError(.requestTimedOut, "The request ran past the request timeout.")
    }

    private func checkUsable(finishedAllowed: Bool = false) throws {
        let current = flags.load(ordering: .acquiring)
        if current & Flag.finished != 0 && !finishedAllowed {
            throw ASGIProtocolError(.afterCompletion, "The request has finished: a read or write from the application after it ended is refused.")
        }
        if current & Flag.timedOut != 0 { throw timeoutError }
        if current & Flag.aborted != 0 { throw ClientDisconnectedError.requestAbandoned }
        if current & ~Flag.finished != 0 { throw ClientDisconnectedError.connectionClosed }
    }

    static func format(_ seconds: Double) -> String {
        let rounded = (seconds * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
