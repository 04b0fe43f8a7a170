@_spi(ASGIFrontend) import ASGI
import AsyncAlgorithms
import AsyncBridge
import Hummingbird
import NIOCore
import Synchronization

/// One request's traffic between Hummingbird and an ASGI application: the request body as
/// `http.request` events, the response head once the application's first body event (or
/// pathsend) arrives, and body chunks through a channel whose `send` waits for the writer
/// (back-pressure).
///
/// The head is held until the first body event, as every server of the package holds it: an
/// application that fails before that still gets a 500, and a response sent in one body event is
/// sized. Every event is checked by the package's rules (``ASGI/HTTPResponseState``, the status
/// and header rules, ``ASGI/ResponseFraming``), so an application's mistake is an error it sees,
/// never a trap in Hummingbird.
///
/// Only `receive()` touches `requestBody`, and ASGI applications call `receive()` one at a time;
/// everything else is under `state`. That is what makes the unchecked conformance sound.
final class HummingbirdExchange: @unchecked Sendable {
    /// What the responder answers with.
    struct Head: Sendable {
        var status: Int
        var headers: ASGIHeaders
        /// The body's length, when known.
        var contentLength: Int?
    }

    private struct State {
        var response = HTTPResponseState()
        var pendingHead: Head?
        var framing: ResponseFraming?
        var trailersAnnounced = false
        var headDelivered = false
        var headWaiter: CheckedContinuation<Head, any Error>?
        var headResult: Result<Head, any Error>?
        var trailers: ASGIHeaders?
        var requestDone = false
        var finished = false
        var clientGone = false
        var disconnectWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// The response body chunks, in order.
    let body = AsyncThrowingChannel<ByteBuffer, any Error>()
    private let requestMethod: String
    private let state = Mutex(State())
    /// Only `receive()` touches it.
    private var requestBody: RequestBody.AsyncIterator

    init(body: RequestBody, requestMethod: String) {
        self.requestBody = body.makeAsyncIterator()
        self.requestMethod = requestMethod
    }

    var trailers: ASGIHeaders? { state.withLock { $0.trailers } }

    // MARK: receive

    func receive() async throws -> ReceiveEvent {
        let (done, gone) = state.withLock { ($0.requestDone, $0.clientGone) }
        if gone { return .httpDisconnect }
        if done {
            await waitForEnd()
            return .httpDisconnect
        }
        do {
            if let chunk = try await requestBody.next() {
                return .httpRequest(body: Array(buffer: chunk), moreBody: true)
            }
        } catch {
            clientGone()
            return .httpDisconnect
        }
        state.withLock { $0.requestDone = true }
        return .httpRequest(body: [], moreBody: false)
    }

    /// Suspends until the response is complete or the client is gone.
    private func waitForEnd() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.finished || state.clientGone { return true }
                state.disconnectWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    // MARK: send

    func send(_ event: SendEvent) async throws {
        if state.withLock({ $0.clientGone }) { throw ClientDisconnectedError.connectionClosed }
        switch event {
        case .httpResponseStart(let status, let headers, let trailers):
            let framing = try ResponseFraming.checkingStart(status: status, headers: headers, requestMethod: requestMethod, event: event)
            try state.withLock { state in
                try state.response.validate(event)
                state.pendingHead = Head(status: status, headers: headers, contentLength: framing.declaredLength)
                state.framing = framing
                state.trailersAnnounced = trailers
            }
        case .httpResponseBody(let bytes, let moreBody):
            let allowed = try state.withLock { state -> Int in
                try state.response.validate(event)
                let allowed = state.framing?.admit(bytes.count) ?? 0
                if !moreBody, !state.trailersAnnounced, state.framing?.bodyAllowed == true, state.pendingHead?.contentLength == nil {
                    // One body event: its length is known.
                    state.pendingHead?.contentLength = allowed
                }
                return allowed
            }
            deliverHead()
            if allowed > 0 { await body.send(ByteBuffer(bytes: bytes.prefix(allowed))) }
            if state.withLock({ $0.response.isComplete }) { body.finish() }
        case .httpResponsePathsend(let path):
            try state.withLock { try $0.response.validate(event) }
            try await sendFile(path)
            if state.withLock({ $0.response.isComplete }) { body.finish() }
        case .httpResponseTrailers(let headers, let more):
            try HTTPFieldValidator.validate(headers, in: event)
            try state.withLock { state in
                try state.response.validate(event)
                state.trailers = ASGIHeaders((state.trailers?.elements ?? []) + headers.elements)
            }
            if !more { body.finish() }
        default:
            throw ASGIProtocolError.unexpected(event, "it is not an HTTP response event")
        }
    }

    /// Streams the file at `path` as the body, read on a blocking thread, sized by its length when
    /// the application gave none.
    private func sendFile(_ path: String) async throws {
        let reader = try await SyncToAsync.run(threadSensitive: false) { try FileReader(path: path) }
        defer { reader.close() }
        let bodyAllowed = state.withLock { state -> Bool in
            if state.pendingHead?.contentLength == nil, state.framing?.bodyAllowed == true, let length = reader.length {
                state.pendingHead?.contentLength = length
                state.pendingHead?.headers.append("content-length", String(length))
                if let framing = state.framing {
                    state.framing = try? ResponseFraming(
                        status: framing.status,
                        headers: [("content-length", String(length))],
                        requestMethod: requestMethod
                    )
                }
            }
            return state.framing?.bodyAllowed == true
        }
        deliverHead()
        guard bodyAllowed else { return }
        while let block = try await SyncToAsync.run(threadSensitive: false, { try reader.next() }) {
            let allowed = state.withLock { $0.framing?.admit(block.count) ?? 0 }
            guard allowed > 0 else { break }
            await body.send(ByteBuffer(bytes: block.prefix(allowed)))
            if state.withLock({ $0.clientGone }) { throw ClientDisconnectedError.connectionClosed }
        }
    }

    /// Hands the held head to the responder, once.
    private func deliverHead() {
        let (waiter, head) = state.withLock { state -> (CheckedContinuation<Head, any Error>?, Head?) in
            guard !state.headDelivered, let head = state.pendingHead else { return (nil, nil) }
            state.headDelivered = true
            state.headResult = .success(head)
            defer { state.headWaiter = nil }
            return (state.headWaiter, head)
        }
        if let waiter, let head { waiter.resume(returning: head) }
    }

    // MARK: head

    /// The response head, once the application's first body event (or pathsend) arrives.
    /// - Throws: the application's error when it fails before that.
    func head() async throws -> Head {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Head, any Error>? in
                if let result = state.headResult { return result }
                state.headWaiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    // MARK: endings

    func applicationReturned() {
        let complete = state.withLock { $0.response.isComplete }
        if complete { return }
        fail(ASGIProtocolError(.incompleteResponse, "The ASGI application returned without completing its response."))
    }

    func applicationFailed(_ error: any Error) {
        fail(error)
    }

    private func fail(_ error: any Error) {
        let waiter = state.withLock { state -> CheckedContinuation<Head, any Error>? in
            if !state.headDelivered {
                state.headDelivered = true
                state.headResult = .failure(error)
            }
            defer { state.headWaiter = nil }
            return state.headWaiter
        }
        waiter?.resume(throwing: error)
        body.fail(error)
    }

    func responseFinished() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.finished = true
            defer { state.disconnectWaiters = [] }
            return state.disconnectWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func clientGone() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.clientGone = true
            defer { state.disconnectWaiters = [] }
            return state.disconnectWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A file read block by block on blocking threads, for `http.response.pathsend`.
///
/// One task uses it, one call after another (each on a pool thread, never two at once), which is
/// what makes the unchecked conformance sound.
final class FileReader: @unchecked Sendable {
    private var file: WSGIFileBody
    var length: Int? { file.length }

    init(path: String) throws {
        file = try WSGIFileBody(path: path)
    }

    func next() throws -> [UInt8]? { try file.next() }
    func close() { file.close() }
}
