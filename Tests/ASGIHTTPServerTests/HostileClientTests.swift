import ASGI
import ASGIHTTPServer
import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

/// Clients that break HTTP/1.1's rules on purpose (RFC 9112): each gets a clean error answer,
/// its connection is handled by the rules, and the next normal request is served.
@Suite(.timeLimit(.minutes(2)))
struct HostileClientTests {
    /// Answers with what it saw of the request, and reports each request's path.
    private static func echoApp(_ paths: Reports<String>) -> ASGIApp {
        ASGIApp { scope, receive, send in
            guard case .http(let http) = scope else { return }
            paths.report(http.path)
            _ = try await readBody(receive)
            let hosts = http.headers.values(for: "host").joined(separator: "|")
            let query = String(decoding: http.queryString, as: UTF8.self)
            try await respond(send, "host=\(hosts) path=\(http.path) query=\(query)")
        }
    }

    /// Sends `request` on a connection of its own, reads the answer and how the connection ends,
    /// then makes a normal request on a new connection.
    private static func hostile(_ request: String) -> String {
        """
        s = connect()
        s.sendall(\(request))
        response, rest = read_response(s)
        end = ending(s, rest) if response else "no answer"
        emit({"response": response, "end": end, "next": normal("/next")})
        """
    }

    @Test("Two Host headers get 400 and a close; the application never sees them")
    func duplicateHost() async throws {
        let paths = Reports<String>()
        let result = try await withHostileServer(Self.echoApp(paths)) { server in
            try await runHostile(Self.hostile(#"b"GET /spoof HTTP/1.1\r\nHost: good\r\nHost: evil\r\n\r\n""#), port: server.port)
        }
        let response = try #require(RawResponse(result["response"]), "\(result)")
        #expect(response.status == 400)
        #expect(response.body.contains("Host"), "\(response.body)")
        #expect(result["end"] as? String == "closed")
        #expect(result["next"] as? String == "200 host=normal path=/next query=")
        #expect(try await paths.next() == "/next")
    }

    @Test("An HTTP/1.1 request without Host gets 400; HTTP/1.0 may omit it")
    func missingHost() async throws {
        let paths = Reports<String>()
        let result = try await withHostileServer(Self.echoApp(paths)) { server in
            try await runHostile(
                """
                s = connect()
                s.sendall(b"GET /nohost HTTP/1.1\\r\\n\\r\\n")
                response, rest = read_response(s)
                end = ending(s, rest) if response else "no answer"
                s = connect()
                s.sendall(b"GET /old HTTP/1.0\\r\\n\\r\\n")
                old, _ = read_response(s)
                emit({"response": response, "end": end, "old": old, "next": normal("/next")})
                """,
                port: server.port
            )
        }
        let response = try #require(RawResponse(result["response"]), "\(result)")
        #expect(response.status == 400)
        #expect(result["end"] as? String == "closed")
        let old = try #require(RawResponse(result["old"]), "\(result)")
        #expect(old.status == 200)
        #expect(old.body == "host= path=/old query=")
        #expect(result["next"] as? String == "200 host=normal path=/next query=")
        #expect(try await paths.next() == "/old")
        #expect(try await paths.next() == "/next")
    }

    @Test("An absolute-form target's authority wins over the Host header")
    func absoluteFormAuthority() async throws {
        let paths = Reports<String>()
        let result = try await withHostileServer(Self.echoApp(paths)) { server in
            try await runHostile(
                """
                s = connect()
                s.sendall(b"GET http://good.example:8080/abs?q=1 HTTP/1.1\\r\\nHost: evil\\r\\n\\r\\n"
                          b"GET /after HTTP/1.1\\r\\nHost: plain\\r\\nConnection: close\\r\\n\\r\\n")
                first, rest = read_response(s)
                second, rest = read_response(s, rest)
                emit({"first": first, "second": second, "end": ending(s, rest)})
                """,
                port: server.port
            )
        }
        let first = try #require(RawResponse(result["first"]), "\(result)")
        #expect(first.status == 200)
        #expect(first.body == "host=good.example:8080 path=/abs query=q=1")
        let second = try #require(RawResponse(result["second"]), "\(result)")
        #expect(second.body == "host=plain path=/after query=")
        #expect(result["end"] as? String == "closed")
    }

    @Test("A Content-Length past 2^63 (or past any body the server takes) gets 413, not a silent close")
    func contentLengthOverflow() async throws {
        let paths = Reports<String>()
        let configuration = testConfiguration { $0.maxRequestBodyBytes = nil }
        for length in ["9223372036854775808", "99999999999999999999999999999999"] {
            let result = try await withHostileServer(Self.echoApp(paths), configuration: configuration) { server in
                try await runHostile(
                    Self.hostile(#"b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: \#(length)\r\n\r\nabc""#),
                    port: server.port
                )
            }
            let response = try #require(RawResponse(result["response"]), "\(length): \(result)")
            #expect(response.status == 413, "\(length)")
            #expect(result["end"] as? String == "closed", "\(length)")
            #expect(result["next"] as? String == "200 host=normal path=/next query=", "\(length)")
            #expect(try await paths.next() == "/next")
        }
    }

    @Test("A malformed Content-Length still gets 400")
    func contentLengthMalformed() async throws {
        let paths = Reports<String>()
        let result = try await withHostileServer(Self.echoApp(paths)) { server in
            try await runHostile(Self.hostile(#"b"POST /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n""#), port: server.port)
        }
        let response = try #require(RawResponse(result["response"]), "\(result)")
        #expect(response.status == 400)
        #expect(result["end"] as? String == "closed")
        #expect(result["next"] as? String == "200 host=normal path=/next query=")
    }

    @Test("A NUL in the decoded path gets 400; an escaped percent sign is no NUL")
    func nulInPath() async throws {
        let paths = Reports<String>()
        let result = try await withHostileServer(Self.echoApp(paths)) { server in
            try await runHostile(
                Self.hostile(#"b"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n""#).replacingOccurrences(
                    of: "normal(\"/next\")",
                    with: "normal(\"/a%2500b\")"
                ),
                port: server.port
            )
        }
        let response = try #require(RawResponse(result["response"]), "\(result)")
        #expect(response.status == 400)
        #expect(response.body.contains("NUL"), "\(response.body)")
        #expect(result["end"] as? String == "closed")
        #expect(result["next"] as? String == "200 host=normal path=/a%00b query=")
        #expect(try await paths.next() == "/a%00b")
    }

    @Test("A dot-segment in the path (/ws/../x, escaped or not) gets 400 before the application; the next request is served")
    func dotSegments() async throws {
        let paths = Reports<String>()
        for target in ["/ws/../x", "/ws/%2e%2e/x", "/ws/./x", "/ws/..%2Fx"] {
            let result = try await withHostileServer(Self.echoApp(paths)) { server in
                try await runHostile(Self.hostile(#"b"GET \#(target) HTTP/1.1\r\nHost: x\r\n\r\n""#), port: server.port)
            }
            let response = try #require(RawResponse(result["response"]), "\(target): \(result)")
            #expect(response.status == 400, "\(target)")
            #expect(response.body.contains("dot-segment"), "\(target): \(response.body)")
            #expect(result["end"] as? String == "closed", "\(target)")
            #expect(result["next"] as? String == "200 host=normal path=/next query=", "\(target)")
            #expect(try await paths.next() == "/next", "the application saw only the normal request")
        }
    }

    @Test("A WebSocket handshake with a dot-segment in its path gets 400 too")
    func dotSegmentWebSocket() async throws {
        let paths = Reports<String>()
        let handshake =
            #"b"GET /ws/../x HTTP/1.1\r\nHost: good\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n""#
        let result = try await withHostileServer(Self.echoApp(paths)) { server in
            try await runHostile(Self.hostile(handshake), port: server.port)
        }
        let response = try #require(RawResponse(result["response"]), "\(result)")
        #expect(response.status == 400)
        #expect(result["next"] as? String == "200 host=normal path=/next query=")
        #expect(try await paths.next() == "/next")
    }

    @Test("The resource check itself: a connection the server still holds after the scenario fails the test")
    func descriptorCheckCatchesALeak() async throws {
        let paths = Reports<String>()
        let held = Mutex<Int32>(-1)
        defer { held.withLock { if $0 >= 0 { close($0) } } }
        await withKnownIssue("the server holds the connection this scenario keeps open") {
            // The idle timeout is long: the server has no reason to close the connection by itself.
            let configuration = testConfiguration { $0.idleTimeout = .seconds(600) }
            _ = try await withHostileServer(Self.echoApp(paths), configuration: configuration, releaseWithin: .milliseconds(500)) { server in
                // A client that connects, then neither sends nor leaves.
                let fd = try connectToLoopback(port: server.port, timeout: .seconds(5))
                held.withLock { $0 = fd }
                // The server has accepted it once it holds a descriptor for it.
                let deadline = ContinuousClock.now + .seconds(30)
                while connectionDescriptors(port: server.port) == 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(connectionDescriptors(port: server.port) == 1)
            }
        }
    }

    private static let webSocketHandshake =
        #"b"GET /ws HTTP/1.1\r\nHost: good\r\nHost: evil\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n""#

    @Test("A WebSocket handshake with two Host headers gets 400 too; the application never sees it")
    func duplicateHostWebSocket() async throws {
        let paths = Reports<String>()
        let app = ASGIApp { scope, receive, send in
            if case .websocket(let websocket) = scope {
                paths.report("ws \(websocket.path)")
                _ = try await receive()
                try await send(.websocketAccept())
                try await send(.websocketClose())
                return
            }
            try await Self.echoApp(paths)(scope: scope, receive: receive, send: send)
        }
        let result = try await withHostileServer(app) { server in
            try await runHostile(
                Self.hostile(Self.webSocketHandshake),
                port: server.port
            )
        }
        let response = try #require(RawResponse(result["response"]), "\(result)")
        #expect(response.status == 400)
        #expect(result["end"] as? String == "closed")
        #expect(result["next"] as? String == "200 host=normal path=/next query=")
        #expect(try await paths.next() == "/next")
    }
}
