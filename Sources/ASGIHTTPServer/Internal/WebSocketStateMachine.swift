@_spi(ASGIFrontend) import ASGI
import NIOCore
import NIOWebSocket

/// The control side of one WebSocket connection as a value: the closing handshake, keep-alive
/// pings and pongs. Each transition says what ``WebSocketControlHandler`` must do (send a frame,
/// start the close timer, close the connection), so the rules can be tested without a channel.
///
/// ```
///          app's close, quiesce (1001), silent peer (1011)             peer's close
///   open ─────────────────────────────────────────────────▶ closing ─────────────────▶ closed
///     │                                                         └── close timeout ───▶ closed
///     └── peer's close: echo its code (1002 for one no endpoint may send) ───────────▶ closed
/// ```
///
/// - Pings are answered with pongs; while the connection cannot take more, only the latest ping
///   gets its pong, later (RFC 6455 §5.5.3), so a peer that does not read cannot queue pongs
///   without end.
/// - A peer that sends nothing for a ping interval is pinged; one still silent a whole interval
///   later is closed with 1011.
/// - Nothing is sent after a close frame; data frames after the peer's close are dropped.
struct WebSocketStateMachine {
    enum State: Equatable {
        /// Frames flow both ways.
        case open
        /// The server sent its close frame and waits for the peer's (at most the close timeout).
        case closing
        /// Both close frames have crossed (or the connection ended).
        case closed
    }

    /// What the handler does with a frame from the peer.
    enum InboundAction: Equatable {
        /// Pass it to the application.
        case forward
        /// Drop it.
        case drop
        /// Answer a ping.
        case sendPong(ByteBuffer)
        /// Pass the peer's close on, then close the connection (the server's close already went).
        case forwardThenClose
        /// Pass the peer's close on, then reply with `code` (`nil`: an empty close payload, as the
        /// peer's was) and close the connection once the reply is out.
        case forwardThenReply(code: UInt16?)
    }

    /// What the handler does with a frame the application writes.
    enum OutboundAction: Equatable {
        /// Write it.
        case write
        /// Write it and start the close timer (the server's close, the peer's still due).
        case writeAndStartCloseTimer
        /// Write and flush it, then close the connection (the peer's close came first).
        case writeThenClose
        /// Refuse it: nothing may follow a close frame.
        case fail
    }

    /// What the handler does when the ping timer fires.
    enum PingAction: Equatable {
        case none
        /// Ping the peer and schedule the next check.
        case sendPing
        /// The peer stayed silent a whole interval after a ping: close with 1011, then the connection.
        case closeSilentPeer
    }

    private(set) var state = State.open
    private var closeReceived = false
    /// Nothing arrived since the last ping the server sent.
    private(set) var awaitingPeer = false
    /// The payload of the latest ping not answered yet because the connection could not take more.
    private(set) var pendingPong: ByteBuffer?

    init() {}

    private var closeSent: Bool { state != .open }

    /// Whether pings are still due (nothing is sent after a close frame).
    var pingsDue: Bool { !closeSent }

    // MARK: Inbound

    /// A frame from the peer; `writable`: whether the connection can take more now.
    mutating func frameReceived(_ frame: WebSocketFrame, writable: Bool) -> InboundAction {
        awaitingPeer = false
        switch frame.opcode {
        case .ping:
            guard !closeSent else { return .drop }
            guard writable else {
                pendingPong = frame.unmaskedData
                return .drop
            }
            return .sendPong(frame.unmaskedData)
        case .pong:
            return .drop
        case .connectionClose:
            guard !closeReceived else { return .drop }
            closeReceived = true
            if closeSent {
                state = .closed
                return .forwardThenClose
            }
            // Echo the peer's status code (RFC 6455 §5.5.1); a code no endpoint may send (or a
            // one-byte payload) is a protocol error (§7.4.1).
            state = .closed
            return .forwardThenReply(code: Self.replyCode(toClosePayload: frame.unmaskedData))
        default:
            return closeReceived ? .drop : .forward
        }
    }

    /// The code to answer a peer's close payload with: its own, `nil` for an empty payload, 1002
    /// for one no endpoint may send.
    static func replyCode(toClosePayload payload: ByteBuffer) -> UInt16? {
        switch payload.readableBytes {
        case 0:
            return nil
        case 1:
            return UInt16(WebSocketCloseCode.protocolError)
        default:
            guard let code = payload.getInteger(at: payload.readerIndex, as: UInt16.self),
                WebSocketCloseCode.peerMaySend(Int(code))
            else { return UInt16(WebSocketCloseCode.protocolError) }
            return code
        }
    }

    /// The connection can take more again: the pong still owed, if any.
    mutating func becameWritable() -> ByteBuffer? {
        defer { pendingPong = nil }
        return closeSent ? nil : pendingPong
    }

    // MARK: Outbound

    /// A frame the application writes.
    mutating func frameWritten(opcode: WebSocketOpcode) -> OutboundAction {
        guard !closeSent else { return .fail }
        guard opcode == .connectionClose else { return .write }
        if closeReceived {
            state = .closed
            return .writeThenClose
        }
        state = .closing
        return .writeAndStartCloseTimer
    }

    // MARK: Timers and shutdown

    /// The ping timer fired.
    mutating func pingTimerFired() -> PingAction {
        guard !closeSent else { return .none }
        if awaitingPeer {
            state = .closing
            return .closeSilentPeer
        }
        awaitingPeer = true
        return .sendPing
    }

    /// A graceful shutdown began: whether to send close 1001 ("going away") and start the close timer.
    mutating func quiesce() -> Bool {
        guard !closeSent else { return false }
        state = .closing
        return true
    }

    /// The close timer fired: the peer never answered the server's close.
    mutating func closeTimerFired() {
        state = .closed
    }

    /// The connection ended.
    mutating func closed() {
        state = .closed
    }
}
