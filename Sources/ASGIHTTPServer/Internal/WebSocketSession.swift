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

    private typealias Machine = WebSocketSessionStateMachine<Frames, NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>>

    private struct State {
        var machine = Machine()
        var nextWaiter = 0
        /// The tasks waiting for the handshake to settle.
        var waiters: [Int: UnsafeContinuation<Void, Never>] = [:]

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
    var accepted: Bool { state.withLock { $0.machine.accepted } }
    /// The status of the denial response, if the connection was denied.
    var denialStatus: Int { state.withLock { $0.machine.denialStatus } }

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
        let unanswered = state.withLock { $0.machine.applicationReturned(failed: failure != nil) }
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
            switch try state.withLock({ try $0.machine.receive() }) {
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
            state.withLock { $0.machine.readCancelled() }
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
        state.withLock { $0.machine.finishedReading(disconnect: disconnect) }
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
            try state.withLock { try $0.machine.accept(event) }
            answer.succeed(fields)
            await waitUntilSettled()
            if !state.withLock({ $0.machine.isOpen }) { throw ClientDisconnectedError.connectionClosed }

        case .websocketSend(let bytes, let text):
            guard (bytes == nil) != (text == nil) else {
                throw ASGIProtocolError.unexpected(event, "exactly one of 'bytes' and 'text' must be set")
            }
            let frames = try state.withLock { try $0.machine.framesForSending(event) }
            let frame: WebSocketFrame
            if let text {
                frame = WebSocketFrame(fin: true, opcode: .text, data: allocator.buffer(string: text))
            } else {
                frame = WebSocketFrame(fin: true, opcode: .binary, data: allocator.buffer(bytes: bytes ?? []))
            }
            try await frames.writer.write([frame], bytes: frame.length)

        case .websocketClose(let code, let reason):
            switch try state.withLock({ try $0.machine.close(code: code, event) }) {
            case .deny:
                answer.succeed(nil)
                await waitUntilSettled()
                try await writeDenial(PlainResponse(status: 403))
            case .sendClose(let frames):
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
            try state.withLock { try $0.machine.startDenialResponse(status: status, head: head, event) }
            answer.succeed(nil)
            await waitUntilSettled()

        case .websocketHTTPResponseBody(let body, let moreBody):
            let step = try state.withLock { try $0.machine.denialBody(bodyCount: body.count, moreBody: moreBody, event) }
            var parts: [HTTPServerResponsePart] = []
            if let head = step.head { parts.append(.head(head.head)) }
            if !body.isEmpty { parts.append(.body(.byteBuffer(allocator.buffer(bytes: body)))) }
            if step.ends { parts.append(.end(nil)) }
            do {
                try await step.writer.write(contentsOf: parts)
            } catch {
                throw ClientDisconnectedError.connectionClosed
            }

        default:
            throw ASGIProtocolError.unexpected(event, "it is not a WebSocket event")
        }
    }

    private static let secWebSocketProtocol = Array("sec-websocket-protocol".utf8)

    private func sendCloseFrame(_ frames: Frames, code: Int, reason: String) async throws {
        var payload = allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.writeInteger(UInt16(clamping: code))
        // A close frame's payload is at most 125 bytes.
        var reasonBytes = Array(reason.utf8.prefix(123))
        while !reasonBytes.isEmpty && String(validating: reasonBytes, as: UTF8.self) == nil { reasonBytes.removeLast() }
        payload.writeBytes(reasonBytes)
        state.withLock { $0.machine.closeFrameSent() }
        try await frames.writer.write([WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)], bytes: 0)
    }

    private func writeDenial(_ response: PlainResponse) async throws {
        let writer = try state.withLock { try $0.machine.writeWholeDenial(status: response.status) }
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
        let waiters = state.withLock { state in
            state.machine.connectionFailed()
            return state.takeWaiters()
        }
        for waiter in waiters { waiter.resume() }
    }

    private func settle(_ phase: Machine.Phase) {
        let waiters = state.withLock { state in
            state.machine.settle(phase)
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
                    if state.machine.settled || Task.isCancelled { return true }
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
        let (frames, failed) = state.withLock { ($0.machine.closingFrames(), $0.machine.applicationFailed) }
        if let frames {
            try? await sendCloseFrame(frames, code: failed ? 1011 : 1000, reason: "")
        }
        try? await channel.closeFuture.get()
    }

    /// After the application on a denied connection: a 500 if the application never answered or
    /// failed before its denial response went out; the connection closes either way.
    func finishDenial(channel: any Channel) async {
        switch state.withLock({ $0.machine.denialEnd() }) {
        case .closeOutput:
            break
        case .writeError(let logMissing):
            if logMissing {
                server.logger.error("ASGI callable returned without completing its WebSocket denial response (\(where_)).")
            }
            try? await writeDenial(.internalServerError)
        case .abort:
            server.logger.error("ASGI callable returned without completing its WebSocket denial response (\(where_)).")
            channel.close(promise: nil)
            return
        }
        try? await channel.close(mode: .output).get()
    }
}
