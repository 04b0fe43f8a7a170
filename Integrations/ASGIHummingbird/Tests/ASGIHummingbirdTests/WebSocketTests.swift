import ASGI
import ASGIConformance
import ASGIHummingbird
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWebSocket
import Logging
import Testing

/// WebSockets through the Hummingbird mount, end to end with Python's `websockets` client and a
/// raw-socket client for the hostile cases.
@Suite("Hummingbird mount: WebSockets", .timeLimit(.minutes(2)))
struct WebSocketTests {
    static let quiet = Logger(label: "websocket-tests") { _ in SwiftLogNoOpLogHandler() }

    /// An echo application that reports its scope, what it received and how the connection ended.
    static func echo(_ reports: Reports) -> ASGIApp {
        ASGIApp { scope, receive, send in
            switch scope {
            case .lifespan(let lifespan):
                guard case .lifespanStartup = try await receive() else { return }
                lifespan.state["greeting"] = "hello from startup"
                try await send(.lifespanStartupComplete)
                guard case .lifespanShutdown = try await receive() else { return }
                reports.report("shutdown")
                try await send(.lifespanShutdownComplete)
                return
            case .http:
                try await send(.httpResponseStart(status: 200))
                try await send(.httpResponseBody(body: Array("http".utf8)))
                return
            case .websocket(let websocket):
                guard case .websocketConnect = try await receive() else { return }
                let query = String(decoding: websocket.queryString, as: UTF8.self)
                let greeting = websocket.state?["greeting"] as? String ?? "-"
                reports.report("\(websocket.path): extensions \(websocket.extensions?.keys.sorted().joined(separator: ",") ?? "-")")
                reports.report(
                    "scope \(websocket.scheme) \(websocket.rootPath) \(websocket.path) \(query) [\(websocket.subprotocols.joined(separator: ","))] \(greeting)"
                )
                let host = websocket.headers.values(for: "host").first ?? "-"
                reports.report(
                    "\(websocket.path): host \(host.hasPrefix("127.0.0.1:") ? "ok" : host) client \(websocket.client?.host ?? "-") server \(websocket.server?.host ?? "-")"
                )
                switch websocket.path {
                case let path where path.hasSuffix("/deny"):
                    try await send(.websocketClose())
                    return
                case let path where path.hasSuffix("/custom-deny"):
                    try await send(.websocketHTTPResponseStart(status: 401, headers: [("x-reason", "token")]))
                    try await send(.websocketHTTPResponseBody(body: Array("no ".utf8), moreBody: true))
                    try await send(.websocketHTTPResponseBody(body: Array("entry".utf8)))
                    return
                case let path where path.hasSuffix("/bad-status"):
                    try await send(.websocketHTTPResponseStart(status: 1000))
                    return
                case let path where path.hasSuffix("/fail-before"):
                    struct Refused: Error {}
                    throw Refused()
                default:
                    break
                }
                try await send(
                    .websocketAccept(subprotocol: websocket.subprotocols.contains("chat.v1") ? "chat.v1" : nil, headers: [("x-server", "asgi")])
                )
                if websocket.path.hasSuffix("/bad-close") {
                    // Codes no endpoint may send: each refused by `send`, the connection still open.
                    var refused: [Int] = []
                    for code in [1005, 1006, 999, 5000] {
                        do {
                            try await send(.websocketClose(code: code))
                        } catch is ASGIProtocolError {
                            refused.append(code)
                        }
                    }
                    reports.report("refused \(refused.map(String.init).joined(separator: ","))")
                    try await send(.websocketClose(code: 4002, reason: "proper"))
                }
                if websocket.path.hasSuffix("/stays") {
                    reports.report("\(websocket.path): open")
                }
                if websocket.path.hasSuffix("/stream") {
                    // Sends until the client is gone: the send fails, never hangs.
                    do {
                        while true { try await send(.websocketSend(bytes: Array(repeating: 7, count: 64 * 1024))) }
                    } catch {
                        reports.report("\(websocket.path): send failed with \(type(of: error))")
                        return
                    }
                }
                while true {
                    switch try await receive() {
                    case .websocketReceive(let bytes, let text):
                        if let text {
                            if text == "fail" {
                                struct Failed: Error {}
                                throw Failed()
                            }
                            if text == "close-me" {
                                try await send(.websocketClose(code: 4000, reason: "server bye"))
                                continue
                            }
                            try await send(.websocketSend(text: "echo: \(text)"))
                        }
                        if let bytes { try await send(.websocketSend(bytes: bytes.reversed())) }
                    case .websocketDisconnect(let code, let reason):
                        reports.report("\(websocket.path): disconnect \(code) \(reason)")
                        return
                    default:
                        continue
                    }
                }
            }
        }
    }

    /// A live Hummingbird application with `application` mounted at `/ws` for both HTTP and
    /// WebSockets (and a lifespan), beside a native route.
    func withServer<R: Sendable>(
        _ application: any ASGIApplication,
        maxMessageBytes: Int = ServerDefaults.maxWebSocketMessageBytes,
        _ body: @Sendable (Int) async throws -> R
    ) async throws -> R {
        try await requirePython(module: "websockets")
        let lifespan = ASGILifespan(application, logger: Self.quiet)
        let router = Router()
        router.get("/native") { _, _ in "native" }
        router.mount("/ws", application, lifespan: lifespan)
        var app = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                mounting: [ASGIWebSocketMount("/ws", application, lifespan: lifespan)],
                maxMessageBytes: maxMessageBytes
            ),
            logger: Self.quiet
        )
        app.addLifespan(lifespan)
        return try await app.test(.live) { client in
            try await body(try #require(client.port))
        }
    }

    @Test(
        "Echo text and bytes (1 MiB, and a message in three frames too); scope, subprotocol, headers and the client's close code reach the application; lifespan runs around it"
    )
    func echo() async throws {
        let reports = Reports()
        let script = """
            import json, sys
            from websockets.sync.client import connect
            with connect(sys.argv[1], subprotocols=["chat.v2", "chat.v1"], max_size=None, open_timeout=30, close_timeout=30) as ws:
                ws.send("hello")
                text = ws.recv(timeout=30)
                ws.send(bytes([1, 2, 3]))
                data = ws.recv(timeout=30)
                ws.send(["frag", "mented ", "text"])
                fragmented = ws.recv(timeout=30)
                big = bytes(range(256)) * 4096
                ws.send(big)
                echoed = ws.recv(timeout=30)
                headers = dict(ws.response.headers)
                ws.close(code=4001, reason="bye")
            print(json.dumps({"text": text, "bytes": list(data), "fragmented": fragmented, "big": echoed == big[::-1], "server": headers.get("x-server"), "subprotocol": ws.subprotocol}))
            """
        let output = try await withServer(Self.echo(reports)) { port in
            try await python(script, ["ws://127.0.0.1:\(port)/ws/room%201?x=1&y"])
        }.json()
        #expect(output["text"] as? String == "echo: hello")
        #expect(output["bytes"] as? [Int] == [3, 2, 1])
        #expect(output["fragmented"] as? String == "echo: fragmented text")
        #expect(output["big"] as? Bool == true)
        #expect(output["server"] as? String == "asgi")
        #expect(output["subprotocol"] as? String == "chat.v1")
        #expect(await reports.saw("scope ws /ws /ws/room 1 x=1&y [chat.v2,chat.v1] hello from startup"), "\(reports.unconsumed)")
        #expect(await reports.saw("/ws/room 1: host ok client 127.0.0.1 server 127.0.0.1"), "\(reports.unconsumed)")
        #expect(await reports.saw("/ws/room 1: disconnect 4001 bye"), "\(reports.unconsumed)")
        // The server stopped: the lifespan's shutdown ran after it.
        #expect(await reports.saw("shutdown"))
    }

    @Test(
        "websocket.close before accept answers 403, the application's own denial response goes out as sent; a failure or a bad status before accept answers 500; HTTP and native routes go on beside"
    )
    func refusals() async throws {
        let reports = Reports()
        let script = """
            import json, sys
            from websockets.sync.client import connect
            from websockets.exceptions import InvalidStatus
            statuses = []
            custom = None
            for url in sys.argv[1:]:
                try:
                    with connect(url, open_timeout=30) as ws:
                        statuses.append(101)
                except InvalidStatus as error:
                    statuses.append(error.response.status_code)
                    if url.endswith("/custom-deny"):
                        custom = [error.response.headers.get("x-reason"), error.response.body.decode()]
            print(json.dumps({"statuses": statuses, "custom": custom}))
            """
        let (output, http, native) = try await withServer(Self.echo(reports)) { port in
            let output = try await python(
                script,
                ["/ws/deny", "/ws/fail-before", "/ws/custom-deny", "/ws/bad-status", "/elsewhere"].map { "ws://127.0.0.1:\(port)\($0)" }
            )
            let http = try await rawHTTP(port: port, rawRequest("GET", "/ws/plain", port: port))
            let native = try await rawHTTP(port: port, rawRequest("GET", "/native", port: port))
            return (output, http, native)
        }
        // The last handshake is under no mount: Hummingbird refuses it (400).
        // An application's own denial response (the websocket.http.response extension) goes out as
        // sent; a status HTTP cannot carry (1000) is an error the application sees, and a 500.
        let answers = try output.json()
        #expect(answers["statuses"] as? [Int] == [403, 500, 401, 500, 400])
        #expect(answers["custom"] as? [String] == ["token", "no entry"])
        #expect(await reports.saw("/ws/deny: extensions websocket.http.response"), "\(reports.unconsumed)")
        #expect(http.status == 200 && String(decoding: http.body, as: UTF8.self) == "http")
        #expect(native.status == 200 && String(decoding: native.body, as: UTF8.self) == "native")
    }

    @Test("An application failing after accept closes with 1011; its own close reaches the client with its code")
    func closes() async throws {
        let reports = Reports()
        let script = """
            import json, sys
            from websockets.sync.client import connect
            from websockets.exceptions import ConnectionClosed
            codes = []
            for message in ["fail", "close-me"]:
                with connect(sys.argv[1], open_timeout=30, close_timeout=30) as ws:
                    ws.send(message)
                    try:
                        ws.recv(timeout=30)
                        codes.append("message")
                    except ConnectionClosed as closed:
                        codes.append([closed.rcvd.code, closed.rcvd.reason] if closed.rcvd else None)
            print(json.dumps({"codes": codes}))
            """
        let output = try await withServer(Self.echo(reports)) { port in
            try await python(script, ["ws://127.0.0.1:\(port)/ws/x"])
        }.json()
        let codes = output["codes"] as? [[Any]]
        #expect(codes?.first?.first as? Int == 1011)
        #expect(codes?.last?.first as? Int == 4000)
        #expect(codes?.last?.last as? String == "server bye")
        // The client answered the application's close with its code and reason.
        #expect(await reports.saw("/ws/x: disconnect 4000 server bye"), "\(reports.unconsumed)")
    }

    @Test(
        "Hostile: a client that vanishes mid-message is a 1006 disconnect, text that is not UTF-8 closes with 1007, a message over the limit with 1009, a reader leaving an endless stream fails the app's send; the next connection is served"
    )
    func hostileClients() async throws {
        let reports = Reports()
        // A raw client: the handshake, then either a frame announcing 200 bytes of which 20 come,
        // and gone; or a text frame that is not UTF-8.
        let raw = """
            import base64, os, socket, sys
            port = int(sys.argv[1])
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(("GET /ws/%s HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                       "Sec-WebSocket-Key: %s\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n" % (sys.argv[2], port, key)).encode())
            head = b""
            while b"\\r\\n\\r\\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            status = head.split(b" ")[1].decode() if head else "none"
            mask = os.urandom(4)
            if sys.argv[2] == "stream":
                # Reads a little of an endless stream, then gone without a close frame.
                got = len(head.split(b"\\r\\n\\r\\n", 1)[1]) if b"\\r\\n\\r\\n" in head else 0
                while got < 200000:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
                s.close()
                print(status, got >= 200000)
            elif sys.argv[2] == "vanish":
                s.sendall(bytes([0x82, 0x80 | 126]) + (200).to_bytes(2, "big") + mask + bytes(20))
                s.close()
                print(status)
            else:
                # A text frame that is not UTF-8: the server closes with 1007.
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"\\xff\\xfe"))
                s.sendall(bytes([0x81, 0x80 | 2]) + mask + payload)
                frame = s.recv(2)
                length = frame[1] & 0x7F
                body = b""
                while len(body) < length:
                    chunk = s.recv(length - len(body))
                    if not chunk:
                        break
                    body += chunk
                print(status, frame[0] & 0x0F, int.from_bytes(body[:2], "big"))
                s.close()
            """
        let normal = """
            import sys
            from websockets.sync.client import connect
            from websockets.exceptions import ConnectionClosed
            with connect(sys.argv[1] + "/too-big", open_timeout=30, close_timeout=30) as ws:
                ws.send(b"x" * 5000)
                try:
                    ws.recv(timeout=30)
                    print("message")
                except ConnectionClosed as closed:
                    print(closed.rcvd.code if closed.rcvd else "none")
            with connect(sys.argv[1] + "/after", open_timeout=30) as ws:
                ws.send("still here")
                print(ws.recv(timeout=30))
            """
        let (vanished, invalid, after) = try await withServer(Self.echo(reports), maxMessageBytes: 4096) { port in
            let vanished = try await python(raw, ["\(port)", "vanish"])
            let invalid = try await python(raw, ["\(port)", "invalid-utf8"])
            let streamed = try await python(raw, ["\(port)", "stream"])
            #expect(streamed.status == 0 && streamed.stdout == "101 True\n", "\(streamed.stdout) \(streamed.stderr)")
            let after = try await python(normal, ["ws://127.0.0.1:\(port)/ws"])
            return (vanished, invalid, after)
        }
        #expect(vanished.status == 0 && vanished.stdout == "101\n", "\(vanished.stdout) \(vanished.stderr)")
        // A close frame (opcode 8) with 1007.
        #expect(invalid.status == 0 && invalid.stdout == "101 8 1007\n", "\(invalid.stdout) \(invalid.stderr)")
        #expect(after.status == 0 && after.stdout == "1009\necho: still here\n", "\(after.stdout) \(after.stderr)")
        #expect(await reports.saw("/ws/vanish: disconnect 1006 "), "\(reports.unconsumed)")
        #expect(await reports.saw("/ws/invalid-utf8: disconnect 1007 "), "\(reports.unconsumed)")
        #expect(await reports.saw("/ws/stream: send failed with ClientDisconnectedError"), "\(reports.unconsumed)")
        #expect(await reports.saw("/ws/too-big: disconnect 1009 "), "\(reports.unconsumed)")
        #expect(await reports.saw("/ws/after: disconnect 1000 "), "\(reports.unconsumed)")
    }

    @Test(
        "An application's close code no endpoint may send (1005, 1006, 999, 5000) is refused by send; the connection stays open and its proper close goes out"
    )
    func invalidApplicationCloseCodes() async throws {
        let reports = Reports()
        let script = """
            import json, sys
            from websockets.sync.client import connect
            from websockets.exceptions import ConnectionClosed
            with connect(sys.argv[1], open_timeout=30, close_timeout=30) as ws:
                try:
                    ws.recv(timeout=30)
                    result = "message"
                except ConnectionClosed as closed:
                    result = [closed.rcvd.code, closed.rcvd.reason] if closed.rcvd else None
            print(json.dumps({"close": result}))
            """
        let output = try await withServer(Self.echo(reports)) { port in
            try await python(script, ["ws://127.0.0.1:\(port)/ws/bad-close"])
        }.json()
        #expect(await reports.saw("refused 1005,1006,999,5000"), "\(reports.unconsumed)")
        let close = output["close"] as? [Any]
        #expect(close?.first as? Int == 4002, "\(output)")
        #expect(close?.last as? String == "proper", "\(output)")
    }

    @Test(
        "A peer's close code no endpoint may send (1005, 1006, 999, 5000, 1015) is answered with 1002; a valid one with a close; the next connection is served"
    )
    func invalidPeerCloseCodes() async throws {
        let reports = Reports()
        // The handshake by hand, then a masked close frame with the code given, and the server's answer.
        let raw = """
            import base64, os, socket, sys
            port = int(sys.argv[1])
            answers = []
            for code in [int(c) for c in sys.argv[2:]]:
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                key = base64.b64encode(os.urandom(16)).decode()
                s.sendall(("GET /ws/peer-close HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\nUpgrade: websocket\\r\\n"
                           "Connection: Upgrade\\r\\nSec-WebSocket-Key: %s\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n" % (port, key)).encode())
                buf = b""
                while b"\\r\\n\\r\\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                head, _, buf = buf.partition(b"\\r\\n\\r\\n")
                mask = os.urandom(4)
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(code.to_bytes(2, "big")))
                s.sendall(bytes([0x88, 0x80 | 2]) + mask + payload)
                while len(buf) < 2 or len(buf) < 2 + (buf[1] & 0x7F):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                answer = None
                if len(buf) >= 4 and buf[0] & 0x0F == 8:
                    answer = int.from_bytes(buf[2:4], "big")
                answers.append(answer)
                s.close()
            print(" ".join(str(a) for a in answers))
            """
        let (answers, after) = try await withServer(Self.echo(reports)) { port in
            let answers = try await python(raw, ["\(port)", "1005", "1006", "999", "5000", "1015", "4001"])
            let after = try await python(
                """
                import sys
                from websockets.sync.client import connect
                with connect(sys.argv[1], open_timeout=30) as ws:
                    ws.send("still here")
                    print(ws.recv(timeout=30))
                """,
                ["ws://127.0.0.1:\(port)/ws/after"]
            )
            return (answers, after)
        }
        #expect(answers.status == 0 && answers.stdout == "1002 1002 1002 1002 1002 1000\n", "\(answers.stdout) \(answers.stderr)")
        #expect(after.status == 0 && after.stdout == "echo: still here\n", "\(after.stdout) \(after.stderr)")
    }

    @Test("On the server's graceful shutdown an open WebSocket is closed with 1001 (going away), as the HTTP server does")
    func shutdownGoingAway() async throws {
        let reports = Reports()
        let script = """
            import json, sys
            from websockets.sync.client import connect
            from websockets.exceptions import ConnectionClosed
            with connect(sys.argv[1], open_timeout=30, close_timeout=30) as ws:
                try:
                    ws.recv(timeout=60)
                    result = "message"
                except ConnectionClosed as closed:
                    result = [closed.rcvd.code, closed.rcvd.reason] if closed.rcvd else None
            print(json.dumps({"close": result}))
            """
        let client = try await withServer(Self.echo(reports)) { port in
            let client = Task { try await python(script, ["ws://127.0.0.1:\(port)/ws/stays"]) }
            // The WebSocket is open: leaving this closure shuts the server down under it.
            #expect(await reports.saw("/ws/stays: open"), "\(reports.unconsumed)")
            return client
        }
        let output = try await client.value.json()
        let close = output["close"] as? [Any]
        #expect(close?.first as? Int == 1001, "\(output)")
        #expect(close?.last as? String == "Server shutting down", "\(output)")
        #expect(await reports.saw("/ws/stays: disconnect 1001 Server shutting down"), "\(reports.unconsumed)")
    }

    @Test(
        "A handshake whose path has a dot-segment (/ws/../x, /ws/%2e%2e/x, /ws/./x) gets 400 before any application sees it; the next handshake is served"
    )
    func dotSegmentHandshake() async throws {
        let reports = Reports()
        let script = """
            import json, sys
            from websockets.sync.client import connect
            from websockets.exceptions import InvalidStatus
            answers = []
            for url in sys.argv[1:-1]:
                try:
                    with connect(url, open_timeout=30) as ws:
                        answers.append([101, ""])
                except InvalidStatus as error:
                    answers.append([error.response.status_code, error.response.body.decode()])
            with connect(sys.argv[-1], open_timeout=30) as ws:
                ws.send("next")
                answers.append([101, ws.recv(timeout=30)])
            print(json.dumps({"answers": answers}))
            """
        let output = try await withServer(Self.echo(reports)) { port in
            try await python(script, ["/ws/../x", "/ws/%2e%2e/x", "/ws/./x", "/ws/next"].map { "ws://127.0.0.1:\(port)\($0)" })
        }.json()
        let answers = try #require(output["answers"] as? [[Any]], "\(output)")
        #expect(answers.count == 4)
        for answer in answers.prefix(3) {
            #expect(answer.first as? Int == 400, "\(answers)")
            #expect((answer.last as? String)?.contains("dot-segment") == true, "\(answers)")
        }
        #expect(answers.last?.last as? String == "echo: next", "\(answers)")
        #expect(await reports.saw("/ws/next: disconnect 1000 "), "\(reports.unconsumed)")
    }
}
