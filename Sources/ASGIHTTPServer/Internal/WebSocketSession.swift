@_spi(ASGIFrontend) import ASGI
import AsyncBridge
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization

/// One WebSocket connection as an ASGI application sees it: `websocket.connect` first, the
/// handshake finished only when the application sends `websocket.accept` (with its subprotocol
/// and headers), a denial (`websocket.close` before accept: 403; or the
/// `websocket.http.response.*` extension) answered as a plain HTTP response, then messages both
/// ways and `websocket.disconnect` with the peer's code and reason.
final class WebSocketSession: Sendable {
    /// The frames side once the handshake is done; one reader at a time (the `reading` flag).
    private final class Frames: Sendable {
        let reader: InboundReader<WebSocketFrame>
        let writer: ChannelWriter<WebSocketFrame>

        init(inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, channel: any Channel) {
            self.reader = InboundReader(inbound)
            self.writer = ChannelWriter(channel: channel)
            channel.closeFuture.whenComplete { [writer] _ in writer.channelClosed() }
        }
    }

    private enum Phase {
        /// `websocket.connect` delivered or due; no answer yet.
        case connecting
        /// Accepted; NIO is completing the handshake.
        case accepting
        /// The WebSocket is open.
        case open(Frames)
        /// Denied; NIO is handing the connection back as HTTP.
        case denying
        /// Denied; the denial response goes out here.
        case denied(NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>)
        /// The connection went away before the handshake finished.
        case failed
    }

    private struct State {
        var phase = Phase.connecting
        var connectDelivered = false
        var reading = false
        var closeSent = false
        /// The peer closed, or the connection ended: every later `receive` reports this.
        var disconnect: (code: Int, reason: String)?
        var accepted = false
        /// The status of the denial response (403 for a close before accept, 500 when the
        /// application never answered).
        var denialStatus = 0
        var denialHead: ResponseHead?
        var denialHeadWritten = false
        var denialComplete = false
        var failed = false
        var nextWaiter = 0
        var waiters: [Int: UnsafeContinuation<Void, Never>] = [:]

        var settled: Bool {
            switch phase {
            case .connecting, .accepting, .denying: return false
            case .open, .denied, .failed: return true
            }
        }

        mutating func takeWaiters() -> [UnsafeContinuation<Void, Never>] {
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
    }

    let server: ServerContext
    let applicationDone = Signal()
    private let answer: EventLoopPromise<HTTPHeaders?>
    private let version: HTTPVersion
    private let allocator: ByteBufferAllocator
    private let where_: String
    private let state = Mutex(State())

    init(server: ServerContext, head: HTTPRequestHead, answer: EventLoopPromise<HTTPHeaders?>, allocator: ByteBufferAllocator) {
        self.server = server
        self.answer = answer
        self.version = head.version
        self.allocator = allocator
        self.where_ = "WebSocket \(head.uri)"
    }

    /// Whether the application accepted the connection.
    var accepted: Bool { state.withLock { $0.accepted } }
    /// The status of the denial response, if the connection was denied.
    var denialStatus: Int { state.withLock { $0.denialStatus } }

    // MARK: The application's side

    /// Calls the application with the scope, in a `Local` scope of its own.
    func runApplication(scope: WebSocketScope) async {
        var failure: (any Error)?
        do {
            let application = server.application
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
        applicationReturned(failure)
        applicationDone.fire()
    }

    private func applicationReturned(_ failure: (any Error)?) {
        let unanswered = state.withLock { state -> Bool in
            state.failed = failure != nil
            guard case .connecting = state.phase else { return false }
            state.phase = .denying
            state.denialStatus = 500
            return true
        }
        let logger = server.logger
        if let failure, !(failure is ClientDisconnectedError) {
            logger.error("Exception in ASGI application (\(where_)): \(String(describing: failure))")
        } else if unanswered {
            logger.error("ASGI callable returned without sending the WebSocket handshake (\(where_)).")
        }
        if unanswered { answer.succeed(nil) }
    }

    func receive() async throws -> ReceiveEvent {
        try Task.checkCancellation()
        while true {
            enum Step {
                case event(ReceiveEvent)
                case wait
                case read(Frames)
            }
            let step = try state.withLock { state -> Step in
                if !state.connectDelivered {
                    state.connectDelivered = true
                    return .event(.websocketConnect)
                }
                if let disconnect = state.disconnect {
                    return .event(.websocketDisconnect(code: disconnect.code, reason: disconnect.reason))
                }
                switch state.phase {
                case .connecting, .accepting, .denying:
                    return .wait
                case .open(let frames):
                    if state.reading {
                        throw ASGIProtocolError(.concurrentReceive, "receive() was called while another receive() is still waiting for a message.")
                    }
                    state.reading = true
                    return .read(frames)
                case .denied, .failed:
                    state.disconnect = (1006, "")
                    return .event(.websocketDisconnect(code: 1006, reason: ""))
                }
            }
            switch step {
            case .event(let event):
                return event
            case .wait:
                await waitUntilSettled()
                try Task.checkCancellation()
            case .read(let frames):
                if let event = try await read(frames) { return event }
            }
        }
    }

    /// Reads the next frame; `nil` for a frame the application does not see.
    private func read(_ frames: Frames) async throws -> ReceiveEvent? {
        var frame: WebSocketFrame?
        var failure: (any Error)?
        do {
            frame = try await frames.reader.nextShielded()
        } catch is CancellationError {
            // The read goes on; its frame is kept for the next receive().
            state.withLock { $0.reading = false }
            throw CancellationError()
        } catch {
            failure = error
        }
        guard let frame else {
            let code = Self.closeCode(for: failure)
            if code != 1006 {
                // A message past the limits or a protocol error: the peer learns why.
                try? await sendCloseFrame(frames, code: code, reason: code == 1009 ? "Message too big" : "Protocol error")
            }
            return finishReading(disconnect: (code, ""))
        }
        switch frame.opcode {
        case .text:
            let data = frame.unmaskedData
            guard let text = String(validating: data.readableBytesView, as: UTF8.self) else {
                // RFC 6455 §8.1: text must be UTF-8; close with 1007.
                try? await sendCloseFrame(frames, code: 1007, reason: "Invalid UTF-8 in a text message")
                return finishReading(disconnect: (1007, ""))
            }
            _ = finishReading(disconnect: nil)
            return .websocketReceive(text: text)
        case .binary:
            _ = finishReading(disconnect: nil)
            return .websocketReceive(bytes: Array(frame.unmaskedData.readableBytesView))
        case .connectionClose:
            var data = frame.unmaskedData
            var code = 1005
            var reason = ""
            if let raw = data.readInteger(as: UInt16.self) {
                code = Int(raw)
                reason = data.readString(length: data.readableBytes) ?? ""
            }
            return finishReading(disconnect: (code, reason))
        default:
            _ = finishReading(disconnect: nil)
            return nil
        }
    }

    private func finishReading(disconnect: (code: Int, reason: String)?) -> ReceiveEvent? {
        state.withLock { state -> ReceiveEvent? in
            state.reading = false
            guard let disconnect else { return nil }
            if state.disconnect == nil { state.disconnect = disconnect }
            let reported = state.disconnect!
            return .websocketDisconnect(code: reported.code, reason: reported.reason)
        }
    }

    /// The close code to report when the frame stream failed.
    private static func closeCode(for error: (any Error)?) -> Int {
        switch error {
        case let error as NIOWebSocketFrameAggregator.Error
        where error == .accumulatedFrameSizeIsTooLarge || error == .tooManyFragments:
            return 1009
        case let error as NIOWebSocketError where error == .invalidFrameLength:
            return 1009
        case .some(is NIOWebSocketFrameAggregator.Error), .some(is NIOWebSocketError):
            return 1002
        default:
            return 1006
        }
    }

    func send(_ event: SendEvent) async throws {
        switch event {
        case .websocketAccept(let subprotocol, let headers):
            var fields = HTTPHeaders()
            for header in headers where !asciiCaseInsensitiveEqual(header.name, Self.secWebSocketProtocol) {
                try Self.append(header, to: &fields, event: event)
            }
            if let subprotocol {
                guard !subprotocol.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                    throw ASGIProtocolError.unexpected(event, "the subprotocol contains control characters")
                }
                fields.add(name: "sec-websocket-protocol", value: subprotocol)
            }
            try state.withLock { state in
                guard case .connecting = state.phase else {
                    throw ASGIProtocolError.unexpected(event, "the handshake was already answered")
                }
                state.phase = .accepting
                state.accepted = true
            }
            answer.succeed(fields)
            await waitUntilSettled()
            let open = state.withLock { state -> Bool in
                if case .open = state.phase { return true }
                return false
            }
            if !open { throw ClientDisconnectedError.connectionClosed }

        case .websocketSend(let bytes, let text):
            guard (bytes == nil) != (text == nil) else {
                throw ASGIProtocolError.unexpected(event, "exactly one of 'bytes' and 'text' must be set")
            }
            let frames = try openFrames(for: event)
            let frame: WebSocketFrame
            if let text {
                frame = WebSocketFrame(fin: true, opcode: .text, data: allocator.buffer(string: text))
            } else {
                frame = WebSocketFrame(fin: true, opcode: .binary, data: allocator.buffer(bytes: bytes ?? []))
            }
            try await frames.writer.write([frame], bytes: frame.length)

        case .websocketClose(let code, let reason):
            enum Action {
                case deny
                case close(Frames)
                case nothing
            }
            let action = try state.withLock { state -> Action in
                switch state.phase {
                case .connecting:
                    state.phase = .denying
                    state.denialStatus = 403
                    return .deny
                case .open(let frames):
                    if let refusal = WebSocketCloseCode.refusal(code) {
                        throw ASGIProtocolError.unexpected(event, refusal)
                    }
                    if state.closeSent { return .nothing }
                    state.closeSent = true
                    return .close(frames)
                case .denied, .denying:
                    return .nothing
                case .accepting:
                    throw ASGIProtocolError.unexpected(event, "the handshake is still being completed")
                case .failed:
                    throw ClientDisconnectedError.connectionClosed
                }
            }
            switch action {
            case .deny:
                answer.succeed(nil)
                await waitUntilSettled()
                try await writeDenial(PlainResponse(status: 403))
            case .close(let frames):
                do {
                    try await sendCloseFrame(frames, code: code, reason: reason)
                } catch {
                    throw ClientDisconnectedError.connectionClosed
                }
            case .nothing:
                return
            }

        case .websocketHTTPResponseStart(let status, let headers):
            let head = try ResponseHead(
                status: status,
                headers: headers,
                version: version,
                serverHeader: server.configuration.serverHeader,
                event: event
            )
            try state.withLock { state in
                guard case .connecting = state.phase else {
                    throw ASGIProtocolError.unexpected(event, "a denial response must come before any other answer to 'websocket.connect'")
                }
                state.phase = .denying
                state.denialStatus = status
                state.denialHead = head
            }
            answer.succeed(nil)
            await waitUntilSettled()

        case .websocketHTTPResponseBody(let body, let moreBody):
            let (writer, parts) = try state.withLock { state -> (NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, [HTTPServerResponsePart]) in
                guard state.denialHead != nil || state.denialHeadWritten, !state.denialComplete else {
                    throw ASGIProtocolError.unexpected(event, "it must follow 'websocket.http.response.start' and precede the end of that response")
                }
                guard case .denied(let writer) = state.phase else { throw ClientDisconnectedError.connectionClosed }
                var parts: [HTTPServerResponsePart] = []
                if var head = state.denialHead {
                    state.denialHead = nil
                    state.denialHeadWritten = true
                    if !head.hasContentLength && !moreBody {
                        head.head.headers.add(name: "content-length", value: String(body.count))
                    }
                    if !head.connectionClose { head.head.headers.add(name: "connection", value: "close") }
                    parts.append(.head(head.head))
                }
                if !body.isEmpty { parts.append(.body(.byteBuffer(allocator.buffer(bytes: body)))) }
                if !moreBody {
                    parts.append(.end(nil))
                    state.denialComplete = true
                }
                return (writer, parts)
            }
            do {
                try await writer.write(contentsOf: parts)
            } catch {
                throw ClientDisconnectedError.connectionClosed
            }

        default:
            throw ASGIProtocolError.unexpected(event, "it is not a WebSocket event")
        }
    }

    private static let secWebSocketProtocol = Array("sec-websocket-protocol".utf8)

    private func openFrames(for event: SendEvent) throws -> Frames {
        try state.withLock { state in
            switch state.phase {
            case .open(let frames):
                if state.closeSent || state.disconnect != nil { throw ClientDisconnectedError.connectionClosed }
                return frames
            case .connecting, .accepting:
                throw ASGIProtocolError.unexpected(event, "the connection has not been accepted")
            case .denying, .denied:
                throw ASGIProtocolError.unexpected(event, "the connection was denied")
            case .failed:
                throw ClientDisconnectedError.connectionClosed
            }
        }
    }

    private func sendCloseFrame(_ frames: Frames, code: Int, reason: String) async throws {
        var payload = allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.writeInteger(UInt16(clamping: code))
        // A close frame's payload is at most 125 bytes.
        var reasonBytes = Array(reason.utf8.prefix(123))
        while !reasonBytes.isEmpty && String(validating: reasonBytes, as: UTF8.self) == nil { reasonBytes.removeLast() }
        payload.writeBytes(reasonBytes)
        state.withLock { $0.closeSent = true }
        try await frames.writer.write([WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)], bytes: 0)
    }

    private func writeDenial(_ response: PlainResponse) async throws {
        let writer = try state.withLock { state -> NIOAsyncChannelOutboundWriter<HTTPServerResponsePart> in
            guard case .denied(let writer) = state.phase else { throw ClientDisconnectedError.connectionClosed }
            state.denialHeadWritten = true
            state.denialComplete = true
            state.denialStatus = response.status
            return writer
        }
        do {
            try await writer.write(
                contentsOf: ResponseHead.plain(response, version: version, close: true, serverHeader: server.configuration.serverHeader)
            )
        } catch {
            throw ClientDisconnectedError.connectionClosed
        }
    }

    private static func append(_ header: ASGIHeader, to fields: inout HTTPHeaders, event: SendEvent) throws {
        if let problem = HTTPFieldValidator.problem(with: header) {
            throw ASGIProtocolError.unexpected(event, problem)
        }
        fields.add(name: String(decoding: header.name, as: UTF8.self), value: String(decoding: header.value, as: UTF8.self))
    }

    // MARK: The connection's side

    /// The handshake completed: frames flow.
    func attach(inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, channel: any Channel) {
        settle(.open(Frames(inbound: inbound, channel: channel)))
    }

    /// The handshake was refused: the denial response goes out on this HTTP writer.
    func attach(denial outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) {
        settle(.denied(outbound))
    }

    /// The connection ended before the handshake settled.
    func connectionFailed() {
        state.withLock { state in
            if state.disconnect == nil { state.disconnect = (1006, "") }
        }
        settle(.failed)
    }

    private func settle(_ phase: Phase) {
        let waiters = state.withLock { state in
            state.phase = phase
            return state.takeWaiters()
        }
        for waiter in waiters { waiter.resume() }
    }

    private func waitUntilSettled() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.settled || Task.isCancelled { return true }
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

    /// After the application: close an open WebSocket (1000, or 1011 if the application failed)
    /// and wait for the closing handshake to end the connection.
    func finishOpen(channel: any Channel) async {
        let (frames, failed) = state.withLock { state -> (Frames?, Bool) in
            guard case .open(let frames) = state.phase, !state.closeSent, state.disconnect == nil else { return (nil, state.failed) }
            return (frames, state.failed)
        }
        if let frames {
            try? await sendCloseFrame(frames, code: failed ? 1011 : 1000, reason: "")
        }
        try? await channel.closeFuture.get()
    }

    /// After the application on a denied connection: a 500 if the application never answered or
    /// failed before its denial response went out; the connection closes either way.
    func finishDenial(channel: any Channel) async {
        let (writeError, abort) = state.withLock { state -> (Bool, Bool) in
            if state.denialComplete { return (false, false) }
            if !state.denialHeadWritten { return (true, false) }
            return (false, true)
        }
        if writeError {
            if !state.withLock({ $0.failed }) && denialStatus != 500 {
                server.logger.error("ASGI callable returned without completing its WebSocket denial response (\(where_)).")
            }
            try? await writeDenial(.internalServerError)
        }
        if abort {
            server.logger.error("ASGI callable returned without completing its WebSocket denial response (\(where_)).")
            channel.close(promise: nil)
            return
        }
        try? await channel.close(mode: .output).get()
    }
}
