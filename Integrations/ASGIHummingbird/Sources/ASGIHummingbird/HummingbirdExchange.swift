import ASGI
import AsyncAlgorithms
import Hummingbird
import NIOCore
import Synchronization

/// One request's traffic between Hummingbird and an ASGI application: the request body as
/// `http.request` events, the response head once `http.response.start` arrives, and body chunks
/// through a channel whose `send` waits for the writer (back-pressure).
final class HummingbirdExchange: @unchecked Sendable {
    struct Head: Sendable {
        var status: Int
        var headers: ASGIHeaders
    }

    private struct State {
        var response = HTTPResponseState()
        var head: Head?
        var headWaiter: CheckedContinuation<Head, any Error>?
        var headFailure: (any Error)?
        var trailers: ASGIHeaders?
        var requestDone = false
        var finished = false
        var clientGone = false
        var disconnectWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// The response body chunks, in order.
    let body = AsyncThrowingChannel<ByteBuffer, any Error>()
    private let state = Mutex(State())
    /// Only `receive()` touches it, and ASGI applications call `receive()` one at a time.
    private var requestBody: RequestBody.AsyncIterator

    init(body: RequestBody) {
        self.requestBody = body.makeAsyncIterator()
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
        let gone = state.withLock { $0.clientGone }
        if gone { throw ClientDisconnectedError.connectionClosed }
        try state.withLock { try $0.response.validate(event) }
        switch event {
        case .httpResponseStart(let status, let headers, _):
            let waiter = state.withLock { state -> CheckedContinuation<Head, any Error>? in
                let head = Head(status: status, headers: headers)
                state.head = head
                defer { state.headWaiter = nil }
                return state.headWaiter
            }
            waiter?.resume(returning: Head(status: status, headers: headers))
        case .httpResponseBody(let bytes, let moreBody):
            if !bytes.isEmpty { await body.send(ByteBuffer(bytes: bytes)) }
            if !moreBody, state.withLock({ $0.response.isComplete }) { body.finish() }
        case .httpResponseTrailers(let headers, let more):
            state.withLock { state in
                state.trailers = (state.trailers ?? []) + headers
            }
            if !more { body.finish() }
        default:
            break
        }
    }

    // MARK: head

    func head() async throws -> Head {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Head, any Error>? in
                if let head = state.head { return .success(head) }
                if let failure = state.headFailure { return .failure(failure) }
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
        fail(ASGIProtocolError("The ASGI application returned without completing its response."))
    }

    func applicationFailed(_ error: any Error) {
        fail(error)
    }

    private func fail(_ error: any Error) {
        let waiter = state.withLock { state -> CheckedContinuation<Head, any Error>? in
            if state.head == nil { state.headFailure = error }
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

extension ASGIHeaders {
    static func + (lhs: ASGIHeaders, rhs: ASGIHeaders) -> ASGIHeaders {
        ASGIHeaders(lhs.elements + rhs.elements)
    }
}
