@_spi(ASGIFrontend) import ASGI
import AsyncAlgorithms
import AsyncBridge
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// One WebSocket connection between Hummingbird and an ASGI application, as the application sees
/// it: `websocket.connect` first; the handshake answered only when the application sends
/// `websocket.accept` (with its subprotocol and headers), `websocket.close` (a 403) or its own
/// response (`websocket.http.response.*`, written by ``WebSocketDenial``); then
/// messages both ways and `websocket.disconnect` with the close code.
///
/// The application runs in a task of its own (``runApplication(_:scope:)``) from the handshake on;
/// the upgrade waits for its ``answer()``, and once the connection is upgraded ``serve(inbound:outbound:)``
/// carries its messages until it returns. Messages reach `receive()` through a channel whose
/// `send` waits for the application to take them (back-pressure), reassembled from their frames
/// and limited to `maxMessageBytes` (1009 past it; text that is not UTF-8: 1007).
///
/// Close codes: the application's own when it closed; the peer's, read from its close frame by a
/// ``CloseFrameObserver``; 1006 when the connection ended without one.
final class WebSocketExchange: Sendable {
    /// The application's answer to `websocket.connect`.
    enum Answer: Sendable {
        /// Upgrade, with these response headers.
        case accept(HTTPFields)
        /// Refuse with this plain response.
        case deny(PlainResponse)
        /// Refuse with the application's own response (`websocket.http.response.*`), read with
        /// ``denialParts``.
        case respond(status: Int, headers: ASGIHeaders)
        /// The connection went away before the application answered.
        case gone
    }

    private enum Phase {
        /// `websocket.connect` delivered or due; no answer yet.
        case connecting
        /// Accepted; Hummingbird is completing the upgrade.
        case accepted
        /// The WebSocket is open.
        case open(WebSocketOutboundWriter)
        /// Refused (or the application failed before answering).
        case denied
        /// The connection went away before the WebSocket opened.
        case gone
    }

    private struct State {
        var phase = Phase.connecting
        var connectDelivered = false
        var answer: Answer?
        var answerWaiter: CheckedContinuation<Answer, Never>?
        /// The code the application (or this exchange, for a bad message) closed with.
        var closeSent: (code: Int, reason: String)?
        /// The peer's close frame, when the observer saw one.
        var peerClose: (code: Int, reason: String)?
        /// Reported by every `receive` once the connection is over.
        var disconnect: (code: Int, reason: String)?
        var failure: (any Error)?
        var failed = false
        /// The application's denial response: its framing once started, and whether it is complete.
        var denialFraming: ResponseFraming?
        var denialComplete = false
        /// The connection closed.
        var connectionGone = false
        /// The application returned (or failed).
        var applicationFinished = false
        /// A graceful shutdown of the server began (while the WebSocket was open).
        var shuttingDown = false

        /// Records the answer and hands it to a waiting upgrade, if one waits.
        mutating func settle(_ answer: Answer) -> CheckedContinuation<Answer, Never>? {
            self.answer = answer
            defer { answerWaiter = nil }
            return answerWaiter
        }
    }

    private let logger: Logger
    private let maxMessageBytes: Int
    private let where_: String
    private let state = Mutex(State())
    /// Messages on their way to `receive()`.
    private let messages = AsyncChannel<ReceiveEvent>()
    /// Fires when the WebSocket opened or can no longer open.
    private let settled = OneShot()
    /// Fires when the application returned.
    private let applicationDone = OneShot()
    /// The body events of the application's denial response, on their way to the connection.
    let denialParts = AsyncChannel<DenialPart>()

    /// One `websocket.http.response.body` event.
    struct DenialPart: Sendable {
        var bytes: [UInt8]
        var more: Bool
    }

    init(logger: Logger, maxMessageBytes: Int, target: String) {
        self.logger = logger
        self.maxMessageBytes = maxMessageBytes
        self.where_ = "WebSocket \(target)"
    }

    // MARK: The application's side

    /// Calls the application with the scope, in a `Local` scope of its own.
    func runApplication(_ application: any ASGIApplication, scope: WebSocketScope) async {
        var failure: (any Error)?
        do {
            try await LocalScope.run {
                try await application(
                    scope: .websocket(scope),
                    receive: { try await self.receive() },
                    send: { try await self.send($0) }
                )
            }
        } catch {
            failure = error
        }
        let (waiter, unanswered) = state.withLock { state -> (CheckedContinuation<Answer, Never>?, Bool) in
            state.failure = failure
            state.failed = failure != nil
            state.applicationFinished = true
            guard case .connecting = state.phase else { return (nil, false) }
            state.phase = .denied
            state.disconnect = (1006, "")
            return (state.settle(.deny(.internalServerError)), true)
        }
        if let failure, !(failure is ClientDisconnectedError) {
            logger.error("Exception in ASGI application (\(where_)): \(String(describing: failure))")
        } else if unanswered {
            logger.error("ASGI callable returned without sending the WebSocket handshake (\(where_)).")
        }
        waiter?.resume(returning: .deny(.internalServerError))
        denialParts.finish()
        if unanswered {
            messages.finish()
            settled.fire()
        }
        applicationDone.fire()
    }

    func receive() async throws -> ReceiveEvent {
        try Task.checkCancellation()
        let first = state.withLock { state -> Bool in
            defer { state.connectDelivered = true }
            return !state.connectDelivered
        }
        if first { return .websocketConnect }
        if let disconnect = state.withLock({ $0.disconnect }) {
            return .websocketDisconnect(code: disconnect.code, reason: disconnect.reason)
        }
        var iterator = messages.makeAsyncIterator()
        if let event = await iterator.next() { return event }
        try Task.checkCancellation()
        let disconnect = state.withLock { state in
            if state.disconnect == nil { state.disconnect = (1006, "") }
            return state.disconnect!
        }
        return .websocketDisconnect(code: disconnect.code, reason: disconnect.reason)
    }

    func send(_ event: SendEvent) async throws {
        switch event {
        case .websocketAccept(let subprotocol, let headers):
            let fields = try Self.handshakeFields(subprotocol: subprotocol, headers: headers, event: event)
            let waiter = try state.withLock { state -> CheckedContinuation<Answer, Never>? in
                switch state.phase {
                case .connecting:
                    state.phase = .accepted
                    return state.settle(.accept(fields))
                case .gone:
                    throw ClientDisconnectedError.connectionClosed
                case .accepted, .open, .denied:
                    throw ASGIProtocolError.unexpected(event, "the handshake was already answered")
                }
            }
            waiter?.resume(returning: .accept(fields))
            await settled.wait()
            let open = state.withLock { state -> Bool in
                if case .open = state.phase { return true }
                return false
            }
            if !open { throw ClientDisconnectedError.connectionClosed }

        case .websocketSend(let bytes, let text):
            guard (bytes == nil) != (text == nil) else {
                throw ASGIProtocolError.unexpected(event, "exactly one of 'bytes' and 'text' must be set")
            }
            let writer = try openWriter(for: event)
            do {
                if let text {
                    try await writer.write(.text(text))
                } else {
                    try await writer.write(.binary(ByteBuffer(bytes: bytes ?? [])))
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw ClientDisconnectedError.connectionClosed
            }

        case .websocketClose(let code, let reason):
            enum Action {
                case deny(CheckedContinuation<Answer, Never>?)
                case close(WebSocketOutboundWriter)
                case nothing
            }
            let action = try state.withLock { state -> Action in
                switch state.phase {
                case .connecting:
                    state.phase = .denied
                    state.disconnect = (1006, "")
                    return .deny(state.settle(.deny(PlainResponse(status: 403))))
                case .open(let writer):
                    // The package's one rule, as on the HTTP server: refused while open (before
                    // accept, a close denies the handshake whatever its code).
                    if let refusal = WebSocketCloseCode.refusal(code) {
                        throw ASGIProtocolError.unexpected(event, refusal)
                    }
                    if state.closeSent != nil || state.disconnect != nil { return .nothing }
                    state.closeSent = (code, reason)
                    return .close(writer)
                case .denied:
                    return .nothing
                case .accepted:
                    throw ASGIProtocolError.unexpected(event, "the handshake is still being completed")
                case .gone:
                    throw ClientDisconnectedError.connectionClosed
                }
            }
            switch action {
            case .deny(let waiter):
                waiter?.resume(returning: .deny(PlainResponse(status: 403)))
                messages.finish()
                settled.fire()
            case .close(let writer):
                do {
                    try await writer.close(WebSocketErrorCode(codeNumber: code), reason: Self.closeReason(reason))
                } catch {
                    throw ClientDisconnectedError.connectionClosed
                }
            case .nothing:
                return
            }

        case .websocketHTTPResponseStart(let status, let headers):
            let framing = try ResponseFraming.checkingStart(status: status, headers: headers, requestMethod: "GET", event: event)
            let waiter = try state.withLock { state -> CheckedContinuation<Answer, Never>? in
                guard case .connecting = state.phase else {
                    throw ASGIProtocolError.unexpected(event, "a denial response must come before any other answer to 'websocket.connect'")
                }
                state.phase = .denied
                state.disconnect = (1006, "")
                state.denialFraming = framing
                return state.settle(.respond(status: status, headers: headers))
            }
            waiter?.resume(returning: .respond(status: status, headers: headers))
            messages.finish()
            settled.fire()

        case .websocketHTTPResponseBody(let body, let moreBody):
            try state.withLock { state in
                guard state.denialFraming != nil, !state.denialComplete else {
                    throw ASGIProtocolError.unexpected(event, "it must follow 'websocket.http.response.start' and precede the end of that response")
                }
                if !moreBody { state.denialComplete = true }
            }
            // Waits for the connection to take it; once the connection is done, returns at once.
            await denialParts.send(DenialPart(bytes: body, more: moreBody))
            if state.withLock({ $0.connectionGone }) { throw ClientDisconnectedError.connectionClosed }

        default:
            throw ASGIProtocolError.unexpected(event, "it is not a WebSocket event")
        }
    }

    /// The handshake response's headers: the application's (each checked by the package's field
    /// rule) and its subprotocol.
    private static func handshakeFields(subprotocol: String?, headers: ASGIHeaders, event: SendEvent) throws -> HTTPFields {
        var fields = HTTPFields()
        for header in headers where header.nameString.lowercased() != "sec-websocket-protocol" {
            if let problem = HTTPFieldValidator.problem(with: header) {
                throw ASGIProtocolError.unexpected(event, problem)
            }
            guard let name = HTTPField.Name(header.nameString) else {
                throw ASGIProtocolError.unexpected(event, "'\(header.nameString)' is not a header name")
            }
            fields.append(HTTPField(name: name, value: header.valueString))
        }
        if let subprotocol {
            guard !subprotocol.isEmpty, !subprotocol.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: ",") }) else {
                throw ASGIProtocolError.unexpected(event, "the subprotocol '\(subprotocol)' is not a token")
            }
            fields.append(HTTPField(name: .secWebSocketProtocol, value: subprotocol))
        }
        return fields
    }

    /// A close reason cut to fit a close frame (125 bytes with the code), at a character boundary.
    static func closeReason(_ reason: String) -> String? {
        guard !reason.isEmpty else { return nil }
        var bytes = Array(reason.utf8.prefix(123))
        while !bytes.isEmpty, String(validating: bytes, as: UTF8.self) == nil { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func openWriter(for event: SendEvent) throws -> WebSocketOutboundWriter {
        try state.withLock { state in
            switch state.phase {
            case .open(let writer):
                if state.closeSent != nil || state.disconnect != nil { throw ClientDisconnectedError.connectionClosed }
                return writer
            case .connecting, .accepted:
                throw ASGIProtocolError.unexpected(event, "the connection has not been accepted")
            case .denied:
                throw ASGIProtocolError.unexpected(event, "the connection was denied")
            case .gone:
                throw ClientDisconnectedError.connectionClosed
            }
        }
    }

    /// The close code for frames that ended in `error`: what NIO's decoder answered a frame too
    /// large (1009) or malformed (1002) with; 1006 for a connection that broke.
    static func closeCode(for error: any Error) -> Int {
        switch error {
        case let error as NIOWebSocketError where error == .invalidFrameLength:
            return 1009
        case is NIOWebSocketError:
            return 1002
        default:
            return 1006
        }
    }

    // MARK: The connection's side

    /// The application's answer to `websocket.connect` (``Answer/gone`` when the connection went
    /// away first).
    func answer() async -> Answer {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Answer? in
                if let answer = state.answer { return answer }
                state.answerWaiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The framing of the application's denial response (to cut a body longer than it declared).
    func admitDenialBytes(_ count: Int) -> (allowed: Int, declaredLength: Int?) {
        state.withLock { state in
            guard var framing = state.denialFraming else { return (0, nil) }
            let allowed = framing.admit(count)
            state.denialFraming = framing
            return (allowed, framing.declaredLength)
        }
    }

    /// The connection closed. Before the WebSocket opened, that ends the handshake (the
    /// application's accept fails, its `receive` reports 1006); once open, the frames' end does.
    func connectionClosed() {
        let waiter = state.withLock { state -> CheckedContinuation<Answer, Never>?? in
            state.connectionGone = true
            switch state.phase {
            case .connecting, .accepted:
                state.phase = .gone
                if state.disconnect == nil { state.disconnect = (1006, "") }
                return .some(state.settle(.gone))
            case .open, .denied, .gone:
                return .none
            }
        }
        denialParts.finish()
        guard let waiter else { return }
        waiter?.resume(returning: .gone)
        messages.finish()
        settled.fire()
    }

    /// Whether a normal close (1000) going out now is Hummingbird's answer to a graceful shutdown:
    /// a shutdown began, the WebSocket is open, its application is still running and has not
    /// closed, and the peer has not closed either (Hummingbird answers a peer's close with 1000
    /// too). The server then says 1001, going away, as the package's HTTP server does.
    ///
    /// The shutdown itself must have been seen: a peer's close that arrives right after the
    /// handshake can pass before the ``CloseFrameObserver`` is installed, and Hummingbird's 1000
    /// answering it must not become a 1001.
    var isShutdownClose: Bool {
        state.withLock { state in
            guard state.shuttingDown, case .open = state.phase else { return false }
            return !state.applicationFinished && state.closeSent == nil && state.peerClose == nil && state.disconnect == nil
        }
    }

    /// The peer's close frame, as the observer saw it.
    func peerClosed(code: Int, reason: String) {
        state.withLock { state in
            if state.peerClose == nil { state.peerClose = (code, reason) }
        }
    }

    /// Serves the open WebSocket until the application returns: messages on to `receive()`, and
    /// the application's failure out as a 1011 close (by Hummingbird's handler).
    func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let open = state.withLock { state -> Bool in
            guard case .accepted = state.phase else { return false }
            state.phase = .open(outbound)
            return true
        }
        settled.fire()
        guard open else { return }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.pump(inbound, outbound: outbound) }
                await applicationDone.wait()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // Hummingbird's own handler closes the WebSocket from a task it starts in the same
            // pass over the shutdown's handlers; its close frame reaches the channel after this.
            self.state.withLock { $0.shuttingDown = true }
        }
        let failure = state.withLock { $0.failure }
        if let failure, !(failure is ClientDisconnectedError) { throw failure }
    }

    /// Reads frames into messages for `receive()` until the connection's frames end.
    private func pump(_ inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        var assembler = MessageAssembler(limit: maxMessageBytes)
        var ended: (code: Int, reason: String)?
        do {
            reading: for try await frame in inbound {
                switch assembler.add(frame) {
                case .incomplete:
                    continue
                case .message(let event):
                    await messages.send(event)
                    if Task.isCancelled { return }
                case .refused(let code, let reason):
                    state.withLock { state in
                        if state.closeSent == nil { state.closeSent = (code, reason) }
                    }
                    try? await outbound.close(WebSocketErrorCode(codeNumber: code), reason: reason)
                    ended = (code, "")
                    break reading
                }
            }
        } catch {
            ended = (Self.closeCode(for: error), "")
        }
        if Task.isCancelled { return }
        state.withLock { state in
            guard state.disconnect == nil else { return }
            state.disconnect = ended ?? state.peerClose ?? state.closeSent ?? (1006, "")
        }
        messages.finish()
    }
}
