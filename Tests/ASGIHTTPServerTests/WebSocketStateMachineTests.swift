import NIOCore
import NIOWebSocket
import Testing

@testable import ASGIHTTPServer

/// ``WebSocketStateMachine`` as a value: the closing handshake, pings and pongs, close codes.
@Suite
struct WebSocketStateMachineTests {
    private func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8] = []) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, data: ByteBuffer(bytes: bytes))
    }

    private func close(_ code: UInt16) -> WebSocketFrame {
        frame(.connectionClose, [UInt8(code >> 8), UInt8(code & 0xFF)])
    }

    @Test("Open: data frames go to the application; pings get pongs; pongs are dropped")
    func open() {
        var machine = WebSocketStateMachine()
        #expect(machine.state == .open)
        let step1 = machine.frameReceived(frame(.text, [0x61]), writable: true)
        #expect(step1 == .forward)
        let step2 = machine.frameReceived(frame(.ping, [1, 2]), writable: true)
        #expect(step2 == .sendPong(ByteBuffer(bytes: [1, 2])))
        let step3 = machine.frameReceived(frame(.pong), writable: true)
        #expect(step3 == .drop)
        let step4 = machine.frameWritten(opcode: .binary)
        #expect(step4 == .write)
    }

    @Test("The peer closes first: its code is echoed and the connection closes; later frames are dropped")
    func peerClosesFirst() {
        var machine = WebSocketStateMachine()
        let step5 = machine.frameReceived(close(1000), writable: true)
        #expect(step5 == .forwardThenReply(code: 1000))
        #expect(machine.state == .closed)
        let step6 = machine.frameReceived(frame(.text), writable: true)
        #expect(step6 == .drop)
        let step7 = machine.frameReceived(close(1000), writable: true)
        #expect(step7 == .drop)
        let step8 = machine.frameWritten(opcode: .text)
        #expect(step8 == .fail, "nothing follows a close frame")
    }

    @Test("A peer's close code no endpoint may send (1005, 1006, 1015, 999, 5000, 1004) or a one-byte payload is answered with 1002")
    func invalidPeerCodes() {
        for code: UInt16 in [1005, 1006, 1015, 999, 5000, 1004, 2999, 0] {
            var machine = WebSocketStateMachine()
            let step9 = machine.frameReceived(close(code), writable: true)
            #expect(step9 == .forwardThenReply(code: 1002), "\(code)")
        }
        var oneByte = WebSocketStateMachine()
        let step10 = oneByte.frameReceived(frame(.connectionClose, [3]), writable: true)
        #expect(step10 == .forwardThenReply(code: 1002))
        var empty = WebSocketStateMachine()
        let step11 = empty.frameReceived(frame(.connectionClose), writable: true)
        #expect(step11 == .forwardThenReply(code: nil), "an empty close is echoed empty")
        for code: UInt16 in [1000, 1001, 1003, 1007, 1014, 3000, 4999] {
            var machine = WebSocketStateMachine()
            let step12 = machine.frameReceived(close(code), writable: true)
            #expect(step12 == .forwardThenReply(code: code), "\(code)")
        }
    }

    @Test("The server closes first: open → closing (close timer) → closed when the peer's close arrives")
    func serverClosesFirst() {
        var machine = WebSocketStateMachine()
        let step13 = machine.frameWritten(opcode: .connectionClose)
        #expect(step13 == .writeAndStartCloseTimer)
        #expect(machine.state == .closing)
        let step14 = machine.frameWritten(opcode: .connectionClose)
        #expect(step14 == .fail)
        let step15 = machine.frameReceived(frame(.ping), writable: true)
        #expect(step15 == .drop, "no pong after a close frame")
        let step16 = machine.frameReceived(frame(.text), writable: true)
        #expect(step16 == .forward, "data still reaches the application until the peer's close")
        let step17 = machine.frameReceived(close(1000), writable: true)
        #expect(step17 == .forwardThenClose)
        #expect(machine.state == .closed)
    }

    @Test("The server closes first and the peer never answers: the close timer ends it")
    func closeTimeout() {
        var machine = WebSocketStateMachine()
        _ = machine.frameWritten(opcode: .connectionClose)
        machine.closeTimerFired()
        #expect(machine.state == .closed)
    }

    @Test("The application's close after the peer's: written, then the connection closes")
    func applicationClosesAfterPeer() {
        var machine = WebSocketStateMachine()
        // A close the application writes while the peer's is still on its way inbound.
        _ = machine.frameReceived(frame(.text), writable: true)
        let step18 = machine.frameWritten(opcode: .connectionClose)
        #expect(step18 == .writeAndStartCloseTimer)
        let step19 = machine.frameReceived(close(4000), writable: true)
        #expect(step19 == .forwardThenClose)
    }

    @Test("A peer that does not read: only its latest ping gets a pong, once the connection is writable again")
    func pongsWhileUnwritable() {
        var machine = WebSocketStateMachine()
        let step20 = machine.frameReceived(frame(.ping, [1]), writable: false)
        #expect(step20 == .drop)
        let step21 = machine.frameReceived(frame(.ping, [2]), writable: false)
        #expect(step21 == .drop)
        let step22 = machine.becameWritable()
        #expect(step22 == ByteBuffer(bytes: [2]))
        let step23 = machine.becameWritable()
        #expect(step23 == nil)

        var closing = WebSocketStateMachine()
        _ = closing.frameReceived(frame(.ping, [1]), writable: false)
        _ = closing.frameWritten(opcode: .connectionClose)
        let step24 = closing.becameWritable()
        #expect(step24 == nil, "no pong after a close frame")
    }

    @Test("Pings: a peer that answers stays; one silent a whole interval after a ping is closed (1011)")
    func pings() {
        var machine = WebSocketStateMachine()
        let step25 = machine.pingTimerFired()
        #expect(step25 == .sendPing)
        #expect(machine.awaitingPeer)
        _ = machine.frameReceived(frame(.pong), writable: true)
        #expect(!machine.awaitingPeer)
        let step26 = machine.pingTimerFired()
        #expect(step26 == .sendPing)
        let step27 = machine.pingTimerFired()
        #expect(step27 == .closeSilentPeer)
        #expect(machine.state == .closing)
        #expect(!machine.pingsDue)
        let step28 = machine.pingTimerFired()
        #expect(step28 == .none)
    }

    @Test("Quiescing sends close 1001 once; not after the server's own close")
    func quiesce() {
        var machine = WebSocketStateMachine()
        let step29 = machine.quiesce()
        #expect(step29)
        #expect(machine.state == .closing)
        let step30 = machine.quiesce()
        #expect(!step30)
        let step31 = machine.frameWritten(opcode: .connectionClose)
        #expect(step31 == .fail, "the application's close after the server's 1001")
    }

    @Test("Closed: nothing more is sent")
    func closed() {
        var machine = WebSocketStateMachine()
        machine.closed()
        let step32 = machine.frameWritten(opcode: .text)
        #expect(step32 == .fail)
        let step33 = machine.pingTimerFired()
        #expect(step33 == .none)
        let step34 = machine.quiesce()
        #expect(!step34)
    }
}
