import ASGI
import NIOHTTP1
import Testing

@testable import ASGIHTTPServer

/// ``WebSocketSessionStateMachine`` as a value: the handshake answer, denial responses, one reader
/// at a time and the disconnect every later `receive` reports. Frames and the denial writer are
/// plain strings here.
@Suite
struct WebSocketSessionStateMachineTests {
    typealias Machine = WebSocketSessionStateMachine<String, String>

    /// The event a step returns, or `nil` when it is not an event.
    private func event(_ step: Machine.ReceiveStep) -> ReceiveEvent? {
        if case .event(let event) = step { return event }
        return nil
    }

    private func isWait(_ step: Machine.ReceiveStep) -> Bool {
        if case .wait = step { return true }
        return false
    }

    private func readsFrom(_ step: Machine.ReceiveStep) -> String? {
        if case .read(let frames) = step { return frames }
        return nil
    }

    private func head(_ status: Int, _ headers: ASGIHeaders = []) throws -> ResponseHead {
        try ResponseHead(status: status, headers: headers, version: .http1_1, serverHeader: nil, event: .websocketHTTPResponseStart(status: status))
    }

    @Test("websocket.connect comes first; receive waits until the accepted handshake settles, then reads one at a time")
    func acceptThenRead() throws {
        var machine = Machine()
        let step1 = try machine.receive()
        #expect(event(step1) == .websocketConnect)
        let step2 = try machine.receive()
        #expect(isWait(step2))
        try machine.accept(.websocketAccept())
        #expect(machine.accepted)
        #expect(!machine.settled)
        let step3 = try machine.receive()
        #expect(isWait(step3))
        machine.settle(.open("frames"))
        #expect(machine.isOpen)
        let step4 = try machine.receive()
        #expect(readsFrom(step4) == "frames")
        // A second receive while the first still reads is the application's error.
        #expect(throws: ASGIProtocolError.self) { try machine.receive() }
        let step5 = machine.finishedReading(disconnect: nil)
        #expect(step5 == nil)
        let step6 = try machine.receive()
        #expect(readsFrom(step6) == "frames")
        machine.readCancelled()
        let step7 = try machine.receive()
        #expect(readsFrom(step7) == "frames")
        #expect(try machine.framesForSending(.websocketSend(text: "x")) == "frames")
    }

    @Test("Once the peer closed, every later receive reports that close; the first disconnect wins")
    func disconnectIsSticky() throws {
        var machine = Machine()
        _ = try machine.receive()
        try machine.accept(.websocketAccept())
        machine.settle(.open("frames"))
        _ = try machine.receive()
        let step8 = machine.finishedReading(disconnect: (1000, "bye"))
        #expect(step8 == .websocketDisconnect(code: 1000, reason: "bye"))
        let step9 = try machine.receive()
        #expect(event(step9) == .websocketDisconnect(code: 1000, reason: "bye"))
        let step10 = machine.finishedReading(disconnect: (1006, ""))
        #expect(step10 == .websocketDisconnect(code: 1000, reason: "bye"))
        // Sending after the peer's close is a disconnect, not a protocol error.
        #expect(throws: ClientDisconnectedError.self) { try machine.framesForSending(.websocketSend(text: "x")) }
        #expect(machine.closingFrames() == nil)
    }

    @Test("A second accept, an accept after a denial, and a send before accept are refused")
    func answersInTheWrongPhase() throws {
        var machine = Machine()
        _ = try machine.receive()
        #expect(throws: ASGIProtocolError.self) { try machine.framesForSending(.websocketSend(text: "x")) }
        try machine.accept(.websocketAccept())
        #expect(throws: ASGIProtocolError.self) { try machine.accept(.websocketAccept()) }
        // A close while NIO completes the handshake has nothing to close yet.
        #expect(throws: ASGIProtocolError.self) { try machine.close(code: 1000, .websocketClose()) }

        var denied = Machine()
        let step11 = try denied.close(code: 1000, .websocketClose())
        #expect(isDeny(step11))
        #expect(throws: ASGIProtocolError.self) { try denied.accept(.websocketAccept()) }
        #expect(throws: ASGIProtocolError.self) { try denied.framesForSending(.websocketSend(text: "x")) }
    }

    private func isDeny(_ action: Machine.CloseAction) -> Bool {
        if case .deny = action { return true }
        return false
    }

    @Test("The application's close on an open session sends one close frame; a code no endpoint may send is refused")
    func closeWhenOpen() throws {
        var machine = Machine()
        _ = try machine.receive()
        try machine.accept(.websocketAccept())
        machine.settle(.open("frames"))
        #expect(machine.closingFrames() == "frames")
        #expect(throws: ASGIProtocolError.self) { try machine.close(code: 1005, .websocketClose(code: 1005)) }
        guard case .sendClose(let frames) = try machine.close(code: 1000, .websocketClose()) else {
            Issue.record("the first close sends a close frame")
            return
        }
        #expect(frames == "frames")
        if case .sendClose = try machine.close(code: 1000, .websocketClose()) {
            Issue.record("a second close sent a second close frame")
        }
        #expect(throws: ClientDisconnectedError.self) { try machine.framesForSending(.websocketSend(text: "x")) }
        // The server sends no close of its own after the application's.
        #expect(machine.closingFrames() == nil)
    }

    @Test("A close before accept denies with 403: the server writes the whole response, then closes the output")
    func closeBeforeAcceptDenies() throws {
        var machine = Machine()
        _ = try machine.receive()
        let step12 = try machine.close(code: 1000, .websocketClose())
        #expect(isDeny(step12))
        #expect(machine.denialStatus == 403)
        let step13 = try machine.receive()
        #expect(isWait(step13))
        machine.settle(.denied("writer"))
        let step14 = try machine.writeWholeDenial(status: 403)
        #expect(step14 == "writer")
        #expect(machine.denialEnd() == .closeOutput)
        // The application's receive learns the connection is gone.
        let step15 = try machine.receive()
        #expect(event(step15) == .websocketDisconnect(code: 1006, reason: ""))
        #expect(!machine.accepted)
    }

    @Test("An application that returns without answering is denied with 500, logged once")
    func unansweredIsDenied() throws {
        var machine = Machine()
        _ = try machine.receive()
        let step16 = machine.applicationReturned(failed: false)
        #expect(step16)
        #expect(machine.denialStatus == 500)
        machine.settle(.denied("writer"))
        // The 500 was already logged as "returned without sending the handshake".
        #expect(machine.denialEnd() == .writeError(logMissing: false))

        var answered = Machine()
        _ = try answered.receive()
        try answered.accept(.websocketAccept())
        let step17 = answered.applicationReturned(failed: true)
        #expect(!step17)
        #expect(answered.applicationFailed)
    }

    @Test("A denial response: its head goes out with the first body event with Connection: close, and a length when whole")
    func denialResponse() throws {
        var machine = Machine()
        _ = try machine.receive()
        let body = SendEvent.websocketHTTPResponseBody(body: [1, 2, 3])
        #expect(throws: ASGIProtocolError.self) { try machine.denialBody(bodyCount: 3, moreBody: false, body) }
        try machine.startDenialResponse(status: 401, head: try head(401), .websocketHTTPResponseStart(status: 401))
        #expect(machine.denialStatus == 401)
        #expect(throws: ASGIProtocolError.self) {
            try machine.startDenialResponse(status: 401, head: try head(401), .websocketHTTPResponseStart(status: 401))
        }
        machine.settle(.denied("writer"))
        let step = try machine.denialBody(bodyCount: 3, moreBody: false, body)
        #expect(step.writer == "writer")
        #expect(step.ends)
        #expect(step.head?.head.status.code == 401)
        #expect(step.head?.head.headers["content-length"] == ["3"])
        #expect(step.head?.head.headers["connection"] == ["close"])
        #expect(machine.denialEnd() == .closeOutput)
        // Nothing after the end of the response.
        #expect(throws: ASGIProtocolError.self) { try machine.denialBody(bodyCount: 0, moreBody: false, body) }
    }

    @Test("A denial response in several events: no length is made up; one that never ends is aborted")
    func streamedDenialThatNeverEnds() throws {
        var machine = Machine()
        _ = try machine.receive()
        try machine.startDenialResponse(status: 403, head: try head(403), .websocketHTTPResponseStart(status: 403))
        machine.settle(.denied("writer"))
        let first = try machine.denialBody(bodyCount: 2, moreBody: true, .websocketHTTPResponseBody(body: [1, 2], moreBody: true))
        #expect(first.head?.head.headers["content-length"] == [])
        #expect(!first.ends)
        let second = try machine.denialBody(bodyCount: 1, moreBody: true, .websocketHTTPResponseBody(body: [3], moreBody: true))
        #expect(second.head == nil)
        #expect(machine.denialEnd() == .abort)
    }

    @Test("The connection ends before the handshake settles: receive reports 1006, send is a disconnect")
    func connectionFailsBeforeSettling() throws {
        var machine = Machine()
        _ = try machine.receive()
        try machine.accept(.websocketAccept())
        machine.connectionFailed()
        #expect(machine.settled)
        #expect(!machine.isOpen)
        let step18 = try machine.receive()
        #expect(event(step18) == .websocketDisconnect(code: 1006, reason: ""))
        #expect(throws: ClientDisconnectedError.self) { try machine.framesForSending(.websocketSend(text: "x")) }
        #expect(throws: ClientDisconnectedError.self) { try machine.close(code: 1000, .websocketClose()) }
        #expect(throws: ClientDisconnectedError.self) { try machine.writeWholeDenial(status: 500) }
    }
}
