import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket
import Testing

@testable import ASGIHTTPServer

/// ``ConnectionStateHandler`` and ``WebSocketControlHandler`` on an `EmbeddedChannel`, whose
/// clock the test moves: timers, flushes and closes as a connection sees them.
@Suite
struct ConnectionHandlersEmbeddedTests {
    private static let idle = TimeAmount.seconds(5)

    /// A channel with the HTTP response encoder and the state handler, connected.
    private func httpChannel(sendTimeout: TimeAmount? = nil) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
        try channel.pipeline.syncOperations.addHandler(ConnectionStateHandler(idleTimeout: Self.idle, sendTimeout: sendTimeout, serverHeader: nil))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    private func request(_ channel: EmbeddedChannel, _ headers: HTTPHeaders = ["host": "x"]) throws {
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: headers)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        _ = try channel.readInbound(as: HTTPServerRequestPart.self)
        _ = try channel.readInbound(as: HTTPServerRequestPart.self)
    }

    /// Writes a 200 with `body`, without flushing.
    private func respond(_ channel: EmbeddedChannel, _ body: String = "ok") {
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": String(body.utf8.count)])
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
        channel.write(HTTPServerResponsePart.end(nil), promise: nil)
    }

    /// The bytes written to the socket so far.
    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = data { text += String(buffer: buffer) }
        }
        return text
    }

    @Test("A connection that never sends a request closes after the idle timeout")
    func idleClose() throws {
        let channel = try httpChannel()
        channel.embeddedEventLoop.advanceTime(by: Self.idle - .milliseconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    @Test("The idle clock starts when the response's end is flushed, not when it is queued; then it closes")
    func idleFromFlush() throws {
        let channel = try httpChannel()
        try request(channel)
        respond(channel)
        channel.embeddedEventLoop.advanceTime(by: Self.idle * 4)
        #expect(channel.isActive, "the answer is still queued")
        channel.flush()
        #expect(try written(channel).hasSuffix("ok"))
        channel.embeddedEventLoop.advanceTime(by: Self.idle - .milliseconds(1))
        #expect(channel.isActive)
        // The next request is served on the same connection.
        try request(channel)
        respond(channel, "again")
        channel.flush()
        #expect(try written(channel).hasSuffix("again"))
        channel.embeddedEventLoop.advanceTime(by: Self.idle)
        #expect(!channel.isActive)
    }

    @Test("A client that takes no bytes of a finished answer for the send timeout is closed")
    func sendStall() throws {
        let channel = try httpChannel(sendTimeout: .seconds(30))
        try request(channel)
        respond(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test("Quiescing: an idle connection closes after the linger; a response in progress says Connection: close and closes once flushed")
    func quiesce() throws {
        let idleChannel = try httpChannel()
        idleChannel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        idleChannel.embeddedEventLoop.advanceTime(by: HTTPConnectionStateMachine.quiesceLinger)
        #expect(!idleChannel.isActive)

        let busy = try httpChannel()
        try request(busy)
        busy.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        busy.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(busy.isActive, "a request is outstanding")
        respond(busy)
        let text = try written(busy)
        #expect(text.lowercased().contains("connection: close"), "\(text)")
        #expect(text.hasSuffix("ok"))
        #expect(!busy.isActive)
    }

    @Test("A request the parser refuses gets 400 and the connection closes")
    func parseError() throws {
        let channel = try httpChannel()
        channel.pipeline.fireErrorCaught(HTTPParserError.invalidHeaderToken)
        let text = try written(channel)
        #expect(text.hasPrefix("HTTP/1.1 400"), "\(text)")
        #expect(!channel.isActive)
    }

    // MARK: WebSocket

    private func webSocketChannel(pingInterval: TimeAmount? = nil) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(WebSocketControlHandler(closeTimeout: .seconds(5), pingInterval: pingInterval))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    private func closeFrame(_ code: UInt16) -> WebSocketFrame {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
    }

    private func code(of frame: WebSocketFrame?) -> UInt16? {
        frame.flatMap { $0.opcode == .connectionClose ? $0.unmaskedData.getInteger(at: $0.unmaskedData.readerIndex, as: UInt16.self) : nil }
    }

    @Test("A peer's valid close is passed on and echoed, then the connection closes")
    func webSocketPeerClose() throws {
        let channel = try webSocketChannel()
        try channel.writeInbound(closeFrame(1000))
        #expect(code(of: try channel.readInbound(as: WebSocketFrame.self)) == 1000, "the application learns the peer's code")
        #expect(code(of: try channel.readOutbound(as: WebSocketFrame.self)) == 1000)
        #expect(!channel.isActive)
    }

    @Test("A peer's close with a code no endpoint may send is answered with 1002")
    func webSocketPeerInvalidClose() throws {
        for invalid: UInt16 in [1005, 1006, 999, 5000] {
            let channel = try webSocketChannel()
            try channel.writeInbound(closeFrame(invalid))
            #expect(code(of: try channel.readInbound(as: WebSocketFrame.self)) == invalid)
            #expect(code(of: try channel.readOutbound(as: WebSocketFrame.self)) == 1002, "\(invalid)")
            #expect(!channel.isActive)
        }
    }

    @Test("The application's close starts the close timer: a peer that never answers is dropped when it runs out")
    func webSocketCloseTimeout() throws {
        let channel = try webSocketChannel()
        try channel.writeAndFlush(closeFrame(1000)).wait()
        #expect(code(of: try channel.readOutbound(as: WebSocketFrame.self)) == 1000)
        let late = channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "late")))
        #expect(throws: (any Error).self) { try late.wait() }
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(!channel.isActive)
    }

    @Test("Quiescing sends close 1001 (going away)")
    func webSocketQuiesce() throws {
        let channel = try webSocketChannel()
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(code(of: try channel.readOutbound(as: WebSocketFrame.self)) == 1001)
        try channel.writeInbound(closeFrame(1001))
        #expect(!channel.isActive)
    }

    @Test("Pings: a silent peer is pinged, then closed with 1011 after another silent interval")
    func webSocketPings() throws {
        let channel = try webSocketChannel(pingInterval: .seconds(20))
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .ping)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .pong, data: ByteBuffer()))
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .ping, "the peer answered: pinged again")
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(code(of: try channel.readOutbound(as: WebSocketFrame.self)) == 1011)
        #expect(!channel.isActive)
    }
}
