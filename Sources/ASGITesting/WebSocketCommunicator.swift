@_spi(ASGIFrontend) import ASGI

/// Talks to an ASGI WebSocket application in a test, the way a client behind a server would.
///
/// ```swift
/// let socket = WebSocketCommunicator(application: app, path: "/chat", subprotocols: ["chat"])
/// let handshake = try await socket.connect()
/// #expect(handshake.accepted && handshake.subprotocol == "chat")
/// try await socket.sendText("hello")
/// #expect(try await socket.receiveText() == "hello")
/// try await socket.disconnect()
/// ```
///
/// The scope announces the `websocket.http.response` extension, so the application may refuse the
/// handshake with a full HTTP response. After the application sends `websocket.close`, its
/// `receive()` returns `websocket.disconnect` with the same code.
public final class WebSocketCommunicator: Sendable {
    /// The scope the application was called with.
    public let scope: WebSocketScope
    /// The communicator running the application, for lower-level checks.
    public let communicator: ApplicationCommunicator

    /// Starts `application` with a WebSocket handshake for `path`.
    /// - Parameters:
    ///   - application: The application under test.
    ///   - path: The request target: a path that includes `rootPath`, optionally with `?query`.
    ///   - subprotocols: The subprotocols the client offers, in order.
    ///   - headers: The handshake's headers.
    ///   - queryString: The query string (without `?`); replaces a query in `path` if given.
    ///   - rootPath: Where the application is mounted.
    ///   - scheme: `"ws"` or `"wss"`.
    ///   - client: The client's address.
    ///   - server: The server's address.
    public init(
        application: any ASGIApplication,
        path: String,
        subprotocols: [String] = [],
        headers: ASGIHeaders = [],
        queryString: String? = nil,
        rootPath: String = "",
        scheme: String = "ws",
        client: ASGIAddress? = ASGIAddress(host: "127.0.0.1", port: 50000),
        server: ASGIAddress? = ASGIAddress(host: "testserver", port: 80)
    ) {
        var scope = ASGIRequestHead(
            method: "GET",
            httpVersion: "1.1",
            scheme: scheme == "wss" ? "https" : "http",
            target: RequestTarget(testTarget: path, queryString: queryString),
            rootPath: rootPath,
            headers: headers,
            client: client,
            server: server
        ).webSocketScope(state: nil, extensions: ["websocket.http.response": [:]])
        scope.subprotocols = subprotocols
        self.scope = scope
        self.communicator = ApplicationCommunicator(application: application, scope: .websocket(scope))
    }

    /// Sends `websocket.connect` and reports how the application answered.
    /// - Throws: ``CommunicatorError/unexpectedEvent(_:expected:)`` if the answer is not an accept,
    ///   a close or a denial response; the application's error; `TimeoutError`.
    public func connect(timeout: Duration = .seconds(1)) async throws -> WebSocketHandshake {
        try await communicator.sendInput(.websocketConnect)
        let event = try await communicator.receiveOutput(timeout: timeout)
        switch event {
        case .websocketAccept(let subprotocol, let headers):
            return WebSocketHandshake(accepted: true, subprotocol: subprotocol, headers: headers)
        case .websocketClose(let code, let reason):
            return WebSocketHandshake(accepted: false, closeCode: code, closeReason: reason)
        case .websocketHTTPResponseStart(let status, let headers):
            var response = TestResponse(status: status, headers: headers)
            while true {
                let next = try await communicator.receiveOutput(timeout: timeout)
                guard case .websocketHTTPResponseBody(let body, let moreBody) = next else {
                    throw CommunicatorError.unexpectedEvent(next, expected: "'websocket.http.response.body'")
                }
                response.body += body
                if !moreBody { return WebSocketHandshake(accepted: false, denialResponse: response) }
            }
        default:
            throw CommunicatorError.unexpectedEvent(
                event,
                expected: "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'"
            )
        }
    }

    /// Sends a text message (`websocket.receive` with `text`).
    public func sendText(_ text: String) async throws {
        try await communicator.sendInput(.websocketReceive(text: text))
    }

    /// Sends a binary message (`websocket.receive` with `bytes`).
    public func sendBytes(_ bytes: [UInt8]) async throws {
        try await communicator.sendInput(.websocketReceive(bytes: bytes))
    }

    /// The next message, which must be text.
    /// - Throws: ``CommunicatorError/unexpectedEvent(_:expected:)`` for anything else (a binary
    ///   message, a close); see ``ApplicationCommunicator/receiveOutput(timeout:)`` for the rest.
    public func receiveText(timeout: Duration = .seconds(1)) async throws -> String {
        let event = try await communicator.receiveOutput(timeout: timeout)
        guard case .websocketSend(_, let text?) = event else {
            throw CommunicatorError.unexpectedEvent(event, expected: "a 'websocket.send' text message")
        }
        return text
    }

    /// The next message, which must be binary.
    /// - Throws: ``CommunicatorError/unexpectedEvent(_:expected:)`` for anything else (a text
    ///   message, a close); see ``ApplicationCommunicator/receiveOutput(timeout:)`` for the rest.
    public func receiveBytes(timeout: Duration = .seconds(1)) async throws -> [UInt8] {
        let event = try await communicator.receiveOutput(timeout: timeout)
        guard case .websocketSend(let bytes?, _) = event else {
            throw CommunicatorError.unexpectedEvent(event, expected: "a 'websocket.send' binary message")
        }
        return bytes
    }

    /// The next event the application sent; see ``ApplicationCommunicator/receiveOutput(timeout:)``.
    public func receiveOutput(timeout: Duration = .seconds(1)) async throws -> SendEvent {
        try await communicator.receiveOutput(timeout: timeout)
    }

    /// Whether the application sends nothing within `timeout`; see
    /// ``ApplicationCommunicator/receiveNothing(timeout:interval:)``.
    public func receiveNothing(timeout: Duration = .milliseconds(100)) async throws -> Bool {
        try await communicator.receiveNothing(timeout: timeout)
    }

    /// Closes the connection from the client's side (`websocket.disconnect`) and waits up to
    /// `timeout` for the application to finish. An application that already finished is fine.
    /// - Throws: The application's error; `TimeoutError` if it does not finish in time.
    public func disconnect(code: Int = 1000, reason: String = "", timeout: Duration = .seconds(1)) async throws {
        do {
            try await communicator.sendInput(.websocketDisconnect(code: code, reason: reason))
        } catch let error as CommunicatorError where error.code == .applicationFinished {
            // Nothing to tell it; `wait` below still reports how it ended.
        }
        try await communicator.wait(timeout: timeout)
    }
}
