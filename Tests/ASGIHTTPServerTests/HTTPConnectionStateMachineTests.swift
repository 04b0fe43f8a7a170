import NIOCore
import Testing

@testable import ASGIHTTPServer

/// ``HTTPConnectionStateMachine`` as a value: every transition and the action it asks for.
@Suite
struct HTTPConnectionStateMachineTests {
    private static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private static let idle = TimeAmount.seconds(5)
    private static let send = TimeAmount.seconds(60)

    private func machine(sendTimeout: TimeAmount? = send) -> HTTPConnectionStateMachine {
        var machine = HTTPConnectionStateMachine(idleTimeout: Self.idle, sendTimeout: sendTimeout, now: .uptimeNanoseconds(0))
        let step1 = machine.becameActive(now: Self.start)
        #expect(step1 == .arm(Self.start + Self.idle))
        return machine
    }

    @Test("Active: idle, the idle timer armed once; it closes the connection when due")
    func idleTimeout() {
        var machine = machine()
        #expect(machine.state == .idle(since: Self.start))
        let step2 = machine.becameActive(now: Self.start)
        #expect(step2 == .none, "armed already")
        let step3 = machine.idleTimerFired(now: Self.start + Self.idle)
        #expect(step3 == .close)
        #expect(machine.state == .closed)
    }

    @Test("idle → responding → flushing → idle: the idle clock starts when the response's end reached the socket")
    func requestCycle() {
        var machine = machine()
        machine.requestHeadRead(switchesProtocol: false)
        #expect(machine.state == .responding(outstanding: 1))
        let step4 = machine.requestEndRead()
        #expect(step4 == false)
        // The timer set while idle fires during the request: nothing happens, and it is not re-armed.
        let step5 = machine.idleTimerFired(now: Self.start + Self.idle)
        #expect(step5 == .none)
        #expect(!machine.idleTimerArmed)

        let queued = Self.start + .seconds(10)
        let end = machine.responseEndWritten(now: queued, buffered: 4096)
        #expect(end == .forwardWatching(generation: 1, flush: false, stallDeadline: queued + Self.send))
        #expect(machine.state == .flushing(generation: 1, buffered: 4096))
        // Still flushing long after the idle timeout: no idle close.
        let step6 = machine.idleTimerFired(now: queued + .seconds(30))
        #expect(step6 == .none)

        let flushed = queued + .seconds(40)
        let step7 = machine.endFlushed(generation: 1, now: flushed)
        #expect(step7 == .arm(flushed + Self.idle))
        #expect(machine.state == .idle(since: flushed))
        let step8 = machine.idleTimerFired(now: flushed + Self.idle - .milliseconds(1))
        #expect(step8 == .arm(flushed + Self.idle))
        let step9 = machine.idleTimerFired(now: flushed + Self.idle)
        #expect(step9 == .close)
    }

    @Test("Pipelined requests count one each: only the last response's end starts the flush watch")
    func pipelining() {
        var machine = machine()
        machine.requestHeadRead(switchesProtocol: false)
        machine.requestHeadRead(switchesProtocol: false)
        #expect(machine.outstanding == 2)
        let step10 = machine.responseEndWritten(now: Self.start, buffered: 0)
        #expect(step10 == .forward)
        #expect(machine.state == .responding(outstanding: 1))
        let step11 = machine.responseEndWritten(now: Self.start, buffered: 0)
        #expect(step11 == .forwardWatching(generation: 1, flush: false, stallDeadline: Self.start + Self.send))
    }

    @Test("A new request while the last answer is flushing: that flush's completion no longer starts the idle clock")
    func requestWhileFlushing() {
        var machine = machine()
        machine.requestHeadRead(switchesProtocol: false)
        _ = machine.responseEndWritten(now: Self.start, buffered: 0)
        machine.requestHeadRead(switchesProtocol: false)
        #expect(machine.state == .responding(outstanding: 1))
        let step12 = machine.endFlushed(generation: 1, now: Self.start)
        #expect(step12 == .none)
        #expect(machine.state == .responding(outstanding: 1))
        let step13 = machine.responseEndWritten(now: Self.start, buffered: 0)
        #expect(step13 == .forwardWatching(generation: 2, flush: false, stallDeadline: Self.start + Self.send))
        let step14 = machine.endFlushed(generation: 1, now: Self.start)
        #expect(step14 == .none, "a stale generation")
        let step15 = machine.endFlushed(generation: 2, now: Self.start)
        #expect(step15 == .none, "the timer armed when the connection opened is still scheduled")
        #expect(machine.state == .idle(since: Self.start))
        let step16 = machine.idleTimerFired(now: Self.start + Self.idle)
        #expect(step16 == .close)
    }

    @Test("Send stall: a client that takes some bytes gets another send timeout; one that takes none is closed")
    func sendStall() {
        var machine = machine()
        machine.requestHeadRead(switchesProtocol: false)
        _ = machine.responseEndWritten(now: Self.start, buffered: 1_000_000)
        let first = Self.start + Self.send
        let step16 = machine.stallTimerFired(now: first, buffered: 999_000)
        #expect(step16 == .arm(first + Self.send))
        #expect(machine.state == .flushing(generation: 1, buffered: 999_000))
        let step17 = machine.stallTimerFired(now: first + Self.send, buffered: 999_000)
        #expect(step17 == .close)
        #expect(machine.state == .closed)
    }

    @Test("Send stall: the timer does nothing once the flush is over, and nothing without a send timeout")
    func sendStallAfterFlush() {
        var machine = machine()
        machine.requestHeadRead(switchesProtocol: false)
        _ = machine.responseEndWritten(now: Self.start, buffered: 10)
        _ = machine.endFlushed(generation: 1, now: Self.start)
        let step18 = machine.stallTimerFired(now: Self.start + Self.send, buffered: 0)
        #expect(step18 == .none)

        var unbounded = self.machine(sendTimeout: nil)
        unbounded.requestHeadRead(switchesProtocol: false)
        let step19 = unbounded.responseEndWritten(now: Self.start, buffered: 10)
        #expect(step19 == .forwardWatching(generation: 1, flush: false, stallDeadline: nil))
        let step20 = unbounded.stallTimerFired(now: Self.start + .hours(1), buffered: 10)
        #expect(step20 == .none)
    }

    @Test("Quiescing while idle: a short linger, then close")
    func quiesceIdle() {
        var machine = machine()
        let step21 = machine.quiesce(now: Self.start)
        #expect(step21 == .arm(Self.start + HTTPConnectionStateMachine.quiesceLinger))
        #expect(machine.responseHeadNeedsClose(status: 200))
        #expect(!machine.responseHeadNeedsClose(status: 100), "a 1xx head is not the final response")
        let step22 = machine.lingerFired()
        #expect(step22 == .close)
        #expect(machine.state == .closed)
    }

    @Test("Quiescing: the linger is never longer than the idle timeout")
    func quiesceLingerBounded() {
        var machine = HTTPConnectionStateMachine(idleTimeout: .milliseconds(200), sendTimeout: nil, now: Self.start)
        let step23 = machine.quiesce(now: Self.start)
        #expect(step23 == .arm(Self.start + .milliseconds(200)))
    }

    @Test("Quiescing while responding: the last response is flushed at once, and the connection closes once it is out")
    func quiesceResponding() {
        var machine = machine()
        machine.requestHeadRead(switchesProtocol: false)
        let step24 = machine.quiesce(now: Self.start)
        #expect(step24 == .none)
        let step25 = machine.responseEndWritten(now: Self.start, buffered: 0)
        #expect(step25 == .forwardWatching(generation: 1, flush: true, stallDeadline: Self.start + Self.send))
        let step26 = machine.endFlushed(generation: 1, now: Self.start)
        #expect(step26 == .close)
        #expect(machine.state == .closed)
    }

    @Test("Quiescing while flushing: no close under the bytes still on their way; the request that came during the linger is served")
    func quiesceFlushingAndLinger() {
        var machine = machine()
        machine.requestHeadRead(switchesProtocol: false)
        _ = machine.responseEndWritten(now: Self.start, buffered: 100)
        let step27 = machine.quiesce(now: Self.start)
        #expect(step27 == .none)
        let step28 = machine.lingerFired()
        #expect(step28 == .none)
        let step29 = machine.endFlushed(generation: 1, now: Self.start)
        #expect(step29 == .close)

        var lingering = self.machine()
        _ = lingering.quiesce(now: Self.start)
        lingering.requestHeadRead(switchesProtocol: false)
        let step30 = lingering.lingerFired()
        #expect(step30 == .none, "a request arrived during the linger")
        #expect(lingering.state == .responding(outstanding: 1))
    }

    @Test("A parse error: answered when no response is due, else the connection closes; reported once")
    func parseErrors() {
        var idle = machine()
        let step31 = idle.parserFailed()
        #expect(step31 == .answerAndClose)
        let step32 = idle.parserFailed()
        #expect(step32 == .none)

        var flushing = machine()
        flushing.requestHeadRead(switchesProtocol: false)
        _ = flushing.responseEndWritten(now: Self.start, buffered: 0)
        let step33 = flushing.parserFailed()
        #expect(step33 == .answerAndClose)

        var responding = machine()
        responding.requestHeadRead(switchesProtocol: false)
        let step34 = responding.parserFailed()
        #expect(step34 == .close)
    }

    @Test("A protocol-switch request: its end says the decoder stopped, once")
    func protocolSwitch() {
        var machine = machine()
        machine.requestHeadRead(switchesProtocol: true)
        let step35 = machine.requestEndRead()
        #expect(step35)
        let step36 = machine.requestEndRead()
        #expect(!step36)
    }

    @Test("Closed: nothing more happens")
    func closedIsFinal() {
        var machine = machine()
        machine.closed()
        machine.requestHeadRead(switchesProtocol: false)
        #expect(machine.state == .closed)
        let step37 = machine.responseEndWritten(now: Self.start, buffered: 0)
        #expect(step37 == .forward)
        let step38 = machine.idleTimerFired(now: Self.start + .hours(1))
        #expect(step38 == .none)
        let step39 = machine.lingerFired()
        #expect(step39 == .none)
        let step40 = machine.parserFailed()
        #expect(step40 == .none)
    }
}
