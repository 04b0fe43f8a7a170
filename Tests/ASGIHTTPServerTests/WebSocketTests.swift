import ASGI
import ASGIHTTPServer
import Foundation
import ServiceLifecycleTestKit
import TestSupport
import Testing

/// WebSockets end to end with Python's `websockets` client.
@Suite(.timeLimit(.minutes(1)))
struct WebSocketTests {
    /// An echo application that reports what it received and how the connection ended.
    static func echo(_ reports: Reports<String>) -> ASGIApp {
        ASGIApp { scope, receive, send in
            guard case .websocket(let websocket) = scope else { return }
            guard case .websocketConnect = try await receive() else { return }
            let offered = websocket.subprotocols
            reports.report("offered \(offered.joined(separator: ","))")
            if websocket.path == "/deny" {
                try await send(.websocketClose())
                return
            }
            if websocket.path == "/custom-deny" {
                try await send(.websocketHTTPResponseStart(status: 401, headers: [("x-reason", "token")]))
                try await send(.websocketHTTPResponseBody(body: Array("no ".utf8), moreBody: true))
                try await send(.websocketHTTPResponseBody(body: Array("entry".utf8)))
                return
            }
            try await send(.websocketAccept(subprotocol: offered.contains("chat.v1") ? "chat.v1" : nil, headers: [("x-server", "asgi")]))
            reports.report("accepted")
            while true {
                switch try await receive() {
                case .websocketReceive(let bytes, let text):
                    if let text { try await send(.websocketSend(text: "echo: \(text)")) }
                    if let bytes { try await send(.websocketSend(bytes: bytes.reversed())) }
                case .websocketDisconnect(let code, let reason):
                    reports.report("disconnect \(code) \(reason)")
                    return
                default:
                    continue
                }
            }
        }
    }

    @Test("Echo text and bytes; the client's close code and reason reach the application", arguments: [false, true])
    func echo(onEventLoops: Bool) async throws {
        let reports = Reports<String>()
        let script = """
            import json, sys
            from websockets.sync.client import connect
            with connect(sys.argv[1]) as ws:
                ws.send("hello")
                text = ws.recv()
                ws.send(bytes([1, 2, 3]))
                data = ws.recv()
                headers = dict(ws.response.headers)
                ws.close(code=4001, reason="bye")
            print(json.dumps({"text": text, "bytes": list(data), "server": headers.get("x-server"), "subprotocol": ws.subprotocol}))
            """
        let output = try json(
            try await withServer(Self.echo(reports), configuration: testConfiguration { $0.runsOnEventLoops = onEventLoops }) { server in
                try await python(script, ["\(server.ws)/echo"])
            }
        )
        #expect(output["text"] as? String == "echo: hello")
        #expect(output["bytes"] as? [Int] == [3, 2, 1])
        #expect(output["server"] as? String == "asgi")
        #expect(output["subprotocol"] is NSNull)
        #expect(try await reports.next() == "offered ")
        #expect(try await reports.next() == "accepted")
        let ending = try await reports.next()
        #expect(ending == "disconnect 4001 bye")
    }

    @Test("The application chooses among the offered subprotocols")
    func subprotocol() async throws {
        let reports = Reports<String>()
        let script = """
            import sys
            from websockets.sync.client import connect
            with connect(sys.argv[1], subprotocols=["chat.v2", "chat.v1"]) as ws:
                print(ws.subprotocol)
            """
        let result = try await withServer(Self.echo(reports)) { server in
            try await python(script, ["\(server.ws)/chat"])
        }
        #expect(result.stdout == "chat.v1\n", "\(result.stderr)")
        #expect(try await reports.next() == "offered chat.v2,chat.v1")
    }

    @Test("A close before accept answers 403; websocket.http.response sends a custom denial")
    func denial() async throws {
        let reports = Reports<String>()
        let script = """
            import json, sys
            from websockets.sync.client import connect
            from websockets.exceptions import InvalidStatus
            results = {}
            for name in ("deny", "custom-deny"):
                try:
                    with connect(sys.argv[1] + "/" + name):
                        results[name] = "accepted"
                except InvalidStatus as error:
                    response = error.response
                    results[name] = [response.status_code, response.body.decode(), response.headers.get("x-reason")]
            print(json.dumps(results))
            """
        let output = try json(
            try await withServer(Self.echo(reports)) { server in
                try await python(script, [server.ws])
            }
        )
        let plain = try #require(output["deny"] as? [Any])
        #expect(plain.first as? Int == 403)
        let custom = try #require(output["custom-deny"] as? [Any])
        #expect(custom[0] as? Int == 401)
        #expect(custom[1] as? String == "no entry")
        #expect(custom[2] as? String == "token")
    }

    @Test("Graceful shutdown closes open WebSockets with 1001")
    func shutdownCloses() async throws {
        let reports = Reports<String>()
        let script = """
            import sys
            from websockets.sync.client import connect
            from websockets.exceptions import ConnectionClosed
            with connect(sys.argv[1]) as ws:
                try:
                    ws.recv()
                except ConnectionClosed as closed:
                    print(closed.rcvd.code if closed.rcvd else "none")
            """
        try await withServer(Self.echo(reports)) { server in
            let client = try await ChildProcess.launch(pythonPath, ["-c", script, "\(server.ws)/hold"])
            defer { client.terminate() }
            #expect(try await reports.next() == "offered ")
            #expect(try await reports.next() == "accepted")
            server.trigger.triggerGracefulShutdown()
            let result = await client.result()
            #expect(result.stdout == "1001\n", "\(result.stderr)")
            let ending = try await reports.next()
            #expect(ending.hasPrefix("disconnect 1001"))
        }
    }
}
