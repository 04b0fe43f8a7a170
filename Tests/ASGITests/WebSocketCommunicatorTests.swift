import ASGITesting
import AsyncBridge
import TestSupport
import Testing

@testable import ASGI

@Suite("WebSocketCommunicator")
struct WebSocketCommunicatorTests {
    /// Accepts with the first offered subprotocol and echoes every message until the client leaves.
    static let echo = ASGIApp { scope, receive, send in
        guard case .websocket(let socket) = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
        guard try await receive() == .websocketConnect else { return }
        try await send(.websocketAccept(subprotocol: socket.subprotocols.first, headers: [("x-hello", "1")]))
        while true {
            switch try await receive() {
            case .websocketReceive(let bytes, let text):
                try await send(.websocketSend(bytes: bytes, text: text))
            case .websocketDisconnect:
                return
            default:
                throw TestError("unexpected event")
            }
        }
    }

    /// Connect, exchange text and binary messages, disconnect.
    @Test func echoSession() async throws {
        let socket = WebSocketCommunicator(application: Self.echo, path: "/chat?room=1", subprotocols: ["chat", "v2"])
        #expect(socket.scope.path == "/chat" && socket.scope.queryString == Array("room=1".utf8))
        #expect(socket.scope.subprotocols == ["chat", "v2"])
        #expect(socket.scope.extensions?["websocket.http.response"] != nil)

        let handshake = try await socket.connect()
        #expect(handshake == WebSocketHandshake(accepted: true, subprotocol: "chat", headers: [("x-hello", "1")]))
        try await socket.sendText("hello")
        #expect(try await socket.receiveText() == "hello")
        try await socket.sendBytes([1, 2, 3])
        #expect(try await socket.receiveBytes() == [1, 2, 3])
        #expect(try await socket.receiveNothing(timeout: .milliseconds(10)))
        try await socket.disconnect()
        await #expect(throws: CommunicatorError.applicationFinished) { try await socket.sendText("gone") }
    }

    /// A message of the other kind is reported, not converted.
    @Test func receiveTextRejectsBinary() async throws {
        let socket = WebSocketCommunicator(application: Self.echo, path: "/")
        _ = try await socket.connect()
        try await socket.sendBytes([9])
        let error = await #expect(throws: CommunicatorError.self) { try await socket.receiveText() }
        #expect(error?.code == .unexpectedEvent)
        #expect(error?.event == .websocketSend(bytes: [9]))
        #expect(error?.message.hasPrefix("Expected a 'websocket.send' text message, but the application sent 'websocket.send'") == true)
        try await socket.disconnect()
    }

    /// A close before accept refuses the connection; the application then receives
    /// `websocket.disconnect` with its own code, as from a server.
    @Test func closeBeforeAcceptRefuses() async throws {
        let received = Recorder<ReceiveEvent>()
        let socket = WebSocketCommunicator(
            application: ASGIApp { _, receive, send in
                _ = try await receive()
                try await send(.websocketClose(code: 4003, reason: "members only"))
                received.append(try await receive())
            },
            path: "/"
        )
        let handshake = try await socket.connect()
        #expect(handshake == WebSocketHandshake(accepted: false, closeCode: 4003, closeReason: "members only"))
        try await socket.disconnect()
        #expect(received.values == [.websocketDisconnect(code: 4003, reason: "members only")])
    }

    /// A denial response (`websocket.http.response`) is gathered into a `TestResponse`.
    @Test func denialResponse() async throws {
        let socket = WebSocketCommunicator(
            application: ASGIApp { _, receive, send in
                _ = try await receive()
                try await send(.websocketHTTPResponseStart(status: 403, headers: [("content-type", "text/plain")]))
                try await send(.websocketHTTPResponseBody(body: Array("den".utf8), moreBody: true))
                try await send(.websocketHTTPResponseBody(body: Array("ied".utf8)))
            },
            path: "/"
        )
        let handshake = try await socket.connect()
        #expect(!handshake.accepted)
        #expect(handshake.denialResponse == TestResponse(status: 403, headers: [("content-type", "text/plain")], body: Array("denied".utf8)))
        try await socket.disconnect()
    }
}
