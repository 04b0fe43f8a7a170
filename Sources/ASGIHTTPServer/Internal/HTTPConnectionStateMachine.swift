import NIOCore

/// The life of one HTTP/1 connection as its event loop sees it, as a value: each transition says
/// what ``ConnectionStateHandler`` must do (arm a timer, add `Connection: close`, close), so the
/// rules can be tested without a channel.
///
/// ```
///            head read              last response's .end written        its bytes reached the socket
///   idle ─────────────▶ responding ──────────────────────────▶ flushing ────────────────────────▶ idle
///    │ ▲                    ▲  (pipelined heads count one each)  │  head read                       │
///    │ └─ idle clock        └──────────────────────────────────────┘                                 │
///    └─ idle timeout, quiesce linger, send stall, parse error ──▶ closed ◀───────────────────────────┘
/// ```
///
/// - The idle clock runs only in `idle`, from the moment the last response's final bytes reached
///   the socket (not when they were queued): a slow reader of a large answer is never cut off by
///   it, and when it fires nothing is left unwritten. A request head still being read is part of
///   `idle` (the parser hands over only whole heads), so the idle timeout also bounds a client that
///   never finishes one.
/// - In `flushing` a client that takes no bytes at all for the send timeout is closed (nginx's
///   `send_timeout`): a peer that stops reading cannot hold the connection for ever.
/// - Quiescing (a graceful shutdown): responses from then on say `Connection: close`; a connection
///   in `idle` gets a short linger for a request already on its way, one in `flushing` closes once
///   its bytes are out, one in `responding` once its last response is out.
/// - A request the parser refused is answered (400, 413 or 431) when no response is due, else the
///   connection just closes.
struct HTTPConnectionStateMachine {
    enum State: Equatable {
        /// No request outstanding and nothing queued for the client: the idle clock runs from `since`.
        case idle(since: NIODeadline)
        /// Requests read whose responses have not ended (a pipelined request counts one).
        case responding(outstanding: Int)
        /// Every response has ended; the last one's final bytes are still on their way to the socket.
        /// `generation` tells this flush from an earlier one; `buffered` is what the channel still
        /// held at the last look.
        case flushing(generation: Int, buffered: Int)
        /// Closing or closed: nothing more happens.
        case closed
    }

    /// What the handler does with a timer.
    enum TimerAction: Equatable {
        case none
        /// Schedule the timer for `deadline`.
        case arm(NIODeadline)
        /// Close the connection.
        case close
    }

    /// What the handler does with a response's final part.
    enum EndAction: Equatable {
        /// Pass it on.
        case forward
        /// Pass it on and report when it reached the socket with ``endFlushed(generation:now:)``
        /// (flushing it at once when `flush`); arm the send-stall timer at `stallDeadline`.
        case forwardWatching(generation: Int, flush: Bool, stallDeadline: NIODeadline?)
    }

    /// What the handler does about a request the parser refused.
    enum ParseFailureAction: Equatable {
        case none
        /// Answer it (the response closes the connection).
        case answerAndClose
        /// A response is still due on this connection: the broken request cannot be answered in turn.
        case close
    }

    let idleTimeout: TimeAmount
    /// How long a client may take no bytes of a response already ended before it is closed
    /// (`nil`: for ever).
    let sendTimeout: TimeAmount?
    /// How long a graceful shutdown waits on an idle connection for a request on its way.
    static let quiesceLinger = TimeAmount.seconds(1)

    private(set) var state: State
    private(set) var quiescing = false
    /// The idle timer is scheduled (it re-arms itself rather than one timer per request).
    private(set) var idleTimerArmed = false
    private var generation = 0
    private var parseFailed = false
    /// The request just read asks for a protocol switch, after which the decoder stops parsing.
    private var switchesProtocol = false

    /// - Parameter now: the start of the idle clock (``becameActive(now:)`` restarts it).
    init(idleTimeout: TimeAmount, sendTimeout: TimeAmount?, now: NIODeadline) {
        self.idleTimeout = idleTimeout
        self.sendTimeout = sendTimeout
        self.state = .idle(since: now)
    }

    /// Requests read whose responses have not ended.
    var outstanding: Int {
        if case .responding(let outstanding) = state { return outstanding }
        return 0
    }

    // MARK: The connection

    /// The channel is active: the idle clock starts now.
    mutating func becameActive(now: NIODeadline) -> TimerAction {
        guard case .idle = state else { return .none }
        state = .idle(since: now)
        return armIdleTimer(due: now + idleTimeout)
    }

    /// The channel closed.
    mutating func closed() {
        state = .closed
        idleTimerArmed = false
    }

    // MARK: Requests

    /// A request head was read; `switchesProtocol`: the decoder parses nothing after this request.
    mutating func requestHeadRead(switchesProtocol: Bool) {
        self.switchesProtocol = switchesProtocol
        switch state {
        case .idle, .flushing:
            state = .responding(outstanding: 1)
        case .responding(let outstanding):
            state = .responding(outstanding: outstanding + 1)
        case .closed:
            break
        }
    }

    /// A request's end was read: whether the decoder has now stopped parsing (what it holds from
    /// then on must be bounded).
    mutating func requestEndRead() -> Bool {
        defer { switchesProtocol = false }
        return switchesProtocol
    }

    // MARK: Responses

    /// A response head is being written: whether it must say `Connection: close` (a final response
    /// while quiescing).
    func responseHeadNeedsClose(status: Int) -> Bool {
        quiescing && status >= 200
    }

    /// A response's final part is being written (a 1xx head has none). `buffered`: the bytes the
    /// channel holds for the client before it.
    mutating func responseEndWritten(now: NIODeadline, buffered: Int) -> EndAction {
        guard case .responding(let outstanding) = state else { return .forward }
        guard outstanding <= 1 else {
            state = .responding(outstanding: outstanding - 1)
            return .forward
        }
        generation += 1
        state = .flushing(generation: generation, buffered: buffered)
        return .forwardWatching(generation: generation, flush: quiescing, stallDeadline: sendTimeout.map { now + $0 })
    }

    /// The final part of the response that started flush `generation` reached the socket.
    mutating func endFlushed(generation: Int, now: NIODeadline) -> TimerAction {
        guard case .flushing(let current, _) = state, current == generation else { return .none }
        if quiescing {
            state = .closed
            return .close
        }
        state = .idle(since: now)
        return armIdleTimer(due: now + idleTimeout)
    }

    // MARK: Timers

    /// The idle timer fired.
    mutating func idleTimerFired(now: NIODeadline) -> TimerAction {
        idleTimerArmed = false
        guard case .idle(let since) = state else { return .none }
        let due = since + idleTimeout
        if due <= now {
            state = .closed
            return .close
        }
        return armIdleTimer(due: due)
    }

    /// The send-stall timer fired; `buffered`: the bytes the channel still holds for the client.
    mutating func stallTimerFired(now: NIODeadline, buffered: Int) -> TimerAction {
        guard case .flushing(let generation, let before) = state, let sendTimeout else { return .none }
        guard buffered < before else {
            // Not one byte taken for a whole send timeout.
            state = .closed
            return .close
        }
        state = .flushing(generation: generation, buffered: buffered)
        return .arm(now + sendTimeout)
    }

    private mutating func armIdleTimer(due: NIODeadline) -> TimerAction {
        guard !idleTimerArmed else { return .none }
        idleTimerArmed = true
        return .arm(due)
    }

    // MARK: Graceful shutdown

    /// A graceful shutdown began: `.arm` the linger timer when idle (a request may be on its way:
    /// give it a moment to arrive and be answered with `Connection: close` rather than closing
    /// under it).
    mutating func quiesce(now: NIODeadline) -> TimerAction {
        quiescing = true
        guard case .idle = state else { return .none }
        return .arm(now + min(Self.quiesceLinger, idleTimeout))
    }

    /// The quiesce linger ended.
    mutating func lingerFired() -> TimerAction {
        guard case .idle = state else { return .none }
        state = .closed
        return .close
    }

    // MARK: Errors

    /// The parser refused a request (reported once). The state stays as it is: the handler closes
    /// the connection once the answer is out, and the idle clock still bounds it meanwhile.
    mutating func parserFailed() -> ParseFailureAction {
        guard !parseFailed else { return .none }
        parseFailed = true
        switch state {
        case .idle, .flushing:
            return .answerAndClose
        case .responding:
            return .close
        case .closed:
            return .none
        }
    }
}
