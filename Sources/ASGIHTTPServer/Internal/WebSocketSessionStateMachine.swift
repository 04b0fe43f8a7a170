@_spi(ASGIFrontend) import ASGI
import NIOHTTP1

/// One WebSocket session as the application sees it, as a value: the handshake answer, the
/// denial response, who may read, and the disconnect every later `receive` reports. Each
/// transition says what ``WebSocketSession`` must do (deliver an event, wait for the handshake to
/// settle, read a frame, write a close frame or a denial), so the rules can be tested without a
/// channel or an application.
///
/// ```
///                 websocket.accept                      NIO finished the handshake
///   connecting ─────────────────────▶ accepting ─────────────────────────────────────▶ open
///     │  websocket.close (403), websocket.http.response.start,
///     │  the application returned without answering (500)
///     └────────────────────────────────▶ denying ──── NIO handed the connection back ──▶ denied
///   connecting, accepting, denying ── the connection ended ─────────────────────────▶ failed
/// ```
///
/// - `websocket.connect` is the first event, whatever the phase.
/// - Until the handshake settles (`open`, `denied` or `failed`) a `receive` waits.
/// - One reader at a time once open; a second concurrent `receive` is a protocol error.
/// - Once the peer closed or the connection ended, every `receive` reports that disconnect.
/// - A denial is a plain HTTP response; its head goes out with the first body event, with
///   `Connection: close`.
///
/// `Frames` is what the open session reads and writes frames with; `DenialWriter` where the denial
/// response goes. Both are opaque here.
struct WebSocketSessionStateMachine<Frames, DenialWriter> {
    enum Phase {
        /// `websocket.connect` delivered or due; no answer yet.
        case connecting
        /// Accepted; NIO is completing the handshake.
        case accepting
        /// The WebSocket is open.
        case open(Frames)
        /// Denied; NIO is handing the connection back as HTTP.
        case denying
        /// Denied; the denial response goes out on this writer.
        case denied(DenialWriter)
        /// The connection went away before the handshake finished.
        case failed
    }

    /// What a `receive` does next.
    enum ReceiveStep {
        /// Return this event.
        case event(ReceiveEvent)
        /// Wait until the handshake settles, then ask again.
        case wait
        /// Read the next frame (``finishedReading(disconnect:)`` or ``readCancelled()`` after).
        case read(Frames)
    }

    /// What a `websocket.close` from the application does.
    enum CloseAction {
        /// Deny the handshake with 403 once NIO hands the connection back.
        case deny
        /// Send a close frame.
        case sendClose(Frames)
        /// Nothing more (already closing, or already denied).
        case nothing
    }

    /// What a `websocket.http.response.body` writes.
    struct DenialBodyStep {
        /// Where the denial goes.
        var writer: DenialWriter
        /// The head to write before the body (the first body event), with `Connection: close` and,
        /// for a single-event body without a length, its `Content-Length`.
        var head: ResponseHead?
        /// This event ends the response.
        var ends: Bool
    }

    /// What ends the session once the application returned on a denied connection.
    enum DenialEnd: Equatable {
        /// The response is complete: close the output.
        case closeOutput
        /// No response went out: write a 500; `logMissing` when that is news (the application
        /// neither failed nor was already answered with 500).
        case writeError(logMissing: Bool)
        /// The response started but never ended: close the connection without more.
        case abort
    }

    private(set) var phase = Phase.connecting
    private var connectDelivered = false
    private var reading = false
    private var closeSent = false
    /// The peer closed, or the connection ended: every later `receive` reports this.
    private(set) var disconnect: (code: Int, reason: String)?
    /// The application accepted the connection.
    private(set) var accepted = false
    /// The status of the denial response (403 for a close before accept, 500 when the application
    /// never answered).
    private(set) var denialStatus = 0
    private var denialHead: ResponseHead?
    private var denialHeadWritten = false
    private var denialComplete = false
    /// The application failed (threw).
    private(set) var applicationFailed = false

    /// The handshake is settled: the session is open, denied, or failed.
    var settled: Bool {
        switch phase {
        case .connecting, .accepting, .denying: return false
        case .open, .denied, .failed: return true
        }
    }

    // MARK: The application

    /// The application returned (`failed`: it threw). Whether it had not answered the handshake:
    /// the session is then denied with 500.
    mutating func applicationReturned(failed: Bool) -> Bool {
        applicationFailed = failed
        guard case .connecting = phase else { return false }
        phase = .denying
        denialStatus = 500
        return true
    }

    /// A `receive` from the application.
    mutating func receive() throws -> ReceiveStep {
        if !connectDelivered {
            connectDelivered = true
            return .event(.websocketConnect)
        }
        if let disconnect {
            return .event(.websocketDisconnect(code: disconnect.code, reason: disconnect.reason))
        }
        switch phase {
        case .connecting, .accepting, .denying:
            return .wait
        case .open(let frames):
            if reading {
                throw ASGIProtocolError(.concurrentReceive, "receive() was called while another receive() is still waiting for a message.")
            }
            reading = true
            return .read(frames)
        case .denied, .failed:
            disconnect = (1006, "")
            return .event(.websocketDisconnect(code: 1006, reason: ""))
        }
    }

    /// The read that ``receive()`` started ended; `disconnect` when it ended the session (the
    /// peer's close, a frame past the limits, the connection gone). The disconnect to report, if
    /// the session is over (the first one seen wins).
    mutating func finishedReading(disconnect: (code: Int, reason: String)?) -> ReceiveEvent? {
        reading = false
        guard let disconnect else { return nil }
        if self.disconnect == nil { self.disconnect = disconnect }
        let reported = self.disconnect ?? disconnect
        return .websocketDisconnect(code: reported.code, reason: reported.reason)
    }

    /// The read that ``receive()`` started was cancelled; its frame is kept for the next one.
    mutating func readCancelled() {
        reading = false
    }

    /// `websocket.accept`.
    mutating func accept(_ event: SendEvent) throws {
        guard case .connecting = phase else {
            throw ASGIProtocolError.unexpected(event, "the handshake was already answered")
        }
        phase = .accepting
        accepted = true
    }

    /// The session is open (after an accept settles).
    var isOpen: Bool {
        if case .open = phase { return true }
        return false
    }

    /// `websocket.send`: the frames to write with.
    func framesForSending(_ event: SendEvent) throws -> Frames {
        switch phase {
        case .open(let frames):
            if closeSent || disconnect != nil { throw ClientDisconnectedError.connectionClosed }
            return frames
        case .connecting, .accepting:
            throw ASGIProtocolError.unexpected(event, "the connection has not been accepted")
        case .denying, .denied:
            throw ASGIProtocolError.unexpected(event, "the connection was denied")
        case .failed:
            throw ClientDisconnectedError.connectionClosed
        }
    }

    /// `websocket.close` with `code`.
    mutating func close(code: Int, _ event: SendEvent) throws -> CloseAction {
        switch phase {
        case .connecting:
            phase = .denying
            denialStatus = 403
            return .deny
        case .open(let frames):
            if let refusal = WebSocketCloseCode.refusal(code) {
                throw ASGIProtocolError.unexpected(event, refusal)
            }
            if closeSent { return .nothing }
            closeSent = true
            return .sendClose(frames)
        case .denied, .denying:
            return .nothing
        case .accepting:
            throw ASGIProtocolError.unexpected(event, "the handshake is still being completed")
        case .failed:
            throw ClientDisconnectedError.connectionClosed
        }
    }

    /// A close frame is being sent (the application's, or the server's on its behalf).
    mutating func closeFrameSent() {
        closeSent = true
    }

    /// `websocket.http.response.start` with `head` (its status `status`).
    mutating func startDenialResponse(status: Int, head: ResponseHead, _ event: SendEvent) throws {
        guard case .connecting = phase else {
            throw ASGIProtocolError.unexpected(event, "a denial response must come before any other answer to 'websocket.connect'")
        }
        phase = .denying
        denialStatus = status
        denialHead = head
    }

    /// `websocket.http.response.body`; `bodyCount` bytes, `moreBody` as the event says.
    mutating func denialBody(bodyCount: Int, moreBody: Bool, _ event: SendEvent) throws -> DenialBodyStep {
        guard denialHead != nil || denialHeadWritten, !denialComplete else {
            throw ASGIProtocolError.unexpected(event, "it must follow 'websocket.http.response.start' and precede the end of that response")
        }
        guard case .denied(let writer) = phase else { throw ClientDisconnectedError.connectionClosed }
        var head: ResponseHead?
        if var pending = denialHead {
            denialHead = nil
            denialHeadWritten = true
            if !pending.hasContentLength && !moreBody {
                pending.head.headers.add(name: "content-length", value: String(bodyCount))
            }
            if !pending.connectionClose { pending.head.headers.add(name: "connection", value: "close") }
            head = pending
        }
        if !moreBody { denialComplete = true }
        return DenialBodyStep(writer: writer, head: head, ends: !moreBody)
    }

    /// The server writes a whole denial response of `status` itself (403 for a close before
    /// accept, 500 for no answer): where it goes.
    mutating func writeWholeDenial(status: Int) throws -> DenialWriter {
        guard case .denied(let writer) = phase else { throw ClientDisconnectedError.connectionClosed }
        denialHeadWritten = true
        denialComplete = true
        denialStatus = status
        return writer
    }

    // MARK: The connection

    /// The handshake settled in `phase` (`open`, `denied` or `failed`).
    mutating func settle(_ phase: Phase) {
        self.phase = phase
    }

    /// The connection ended before the handshake settled.
    mutating func connectionFailed() {
        if disconnect == nil { disconnect = (1006, "") }
        phase = .failed
    }

    /// After the application on an open session: the frames to send the server's close frame on
    /// (1000, or 1011 if the application failed), or `nil` when a close already went or the peer
    /// is gone.
    func closingFrames() -> Frames? {
        guard case .open(let frames) = phase, !closeSent, disconnect == nil else { return nil }
        return frames
    }

    /// After the application on a denied session: how the response ends.
    func denialEnd() -> DenialEnd {
        if denialComplete { return .closeOutput }
        if !denialHeadWritten { return .writeError(logMissing: !applicationFailed && denialStatus != 500) }
        return .abort
    }
}

extension WebSocketSessionStateMachine.Phase: Sendable where Frames: Sendable, DenialWriter: Sendable {}
