import ASGI
import ASGIHTTPServer
import Testing

/// Clients that hold a connection without completing anything: a head trickled byte by byte, a
/// refused request followed by more requests the server will not answer. Each connection is
/// closed in bounded time (the test's bound is generous), and the next request is served.
@Suite(.timeLimit(.minutes(2)))
struct LingeringClientTests {
    private static let app = ASGIApp { scope, receive, send in
        guard case .http(let http) = scope else { return }
        _ = try await readBody(receive)
        if http.path == "/hold" {
            // Answers only once the client has gone.
            _ = try await receive()
            return
        }
        try await respond(send, "ok \(http.path)")
    }

    @Test("A client trickling its request head (slowloris) is closed")
    func slowloris() async throws {
        let result = try await withServer(Self.app) { server in
            try await runHostile(
                """
                import select
                s = connect()
                s.sendall(b"GET /slow HTTP/1.1\\r\\nHost: x\\r\\n")
                deadline = time.time() + 60
                end = "open"
                while time.time() < deadline:
                    readable, _, _ = select.select([s], [], [], 0.25)
                    if readable:
                        end = ending(s)
                        break
                    try:
                        s.sendall(b"X-Slow: 1\\r\\n")
                    except OSError:
                        end = "closed"
                        break
                emit({"end": end, "next": normal("/next")})
                """,
                port: server.port
            )
        }
        #expect(result["end"] as? String == "closed" || result["end"] as? String == "reset", "\(result)")
        #expect(result["next"] as? String == "200 ok /next")
    }

    /// After the answer to `request` (and the end of the server's sending side), the client keeps
    /// sending `trickle` every quarter second: the server must close the connection for good (a
    /// send then fails) rather than read forever.
    private static func lingering(_ request: String, trickle: String) -> String {
        """
        s = connect()
        s.sendall(\(request))
        response, rest = read_response(s)
        deadline = time.time() + 60
        end = "open"
        while time.time() < deadline:
            try:
                s.sendall(\(trickle))
            except OSError:
                end = "closed"
                break
            time.sleep(0.25)
        emit({"status": response["status"] if response else None, "end": end, "next": normal("/next")})
        """
    }

    @Test("A refused request followed by pipelined heads does not hold the connection open")
    func pipelinedHeadInDiscard() async throws {
        let result = try await withServer(Self.app) { server in
            try await runHostile(
                Self.lingering(
                    #"b"POST /spoof HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello""#,
                    trickle: #"b"GET /more HTTP/1.1\r\nHost: x\r\n\r\n""#
                ),
                port: server.port
            )
        }
        #expect(result["status"] as? Int == 400)
        #expect(result["end"] as? String == "closed", "\(result)")
        #expect(result["next"] as? String == "200 ok /next")
    }

    @Test("A refused body the client keeps sending, slowly, does not hold the connection open")
    func slowBodyInDiscard() async throws {
        let configuration = testConfiguration { $0.maxRequestBodyBytes = 10 }
        let result = try await withServer(Self.app, configuration: configuration) { server in
            try await runHostile(
                Self.lingering(#"b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n""#, trickle: #"b"z" * 10"#),
                port: server.port
            )
        }
        #expect(result["status"] as? Int == 413)
        #expect(result["end"] as? String == "closed", "\(result)")
        #expect(result["next"] as? String == "200 ok /next")
    }

    @Test(
        "What a client sends after a protocol-switch request is bounded: a flood closes the connection",
        arguments: [
            "GET /hold HTTP/1.1\\r\\nHost: x\\r\\nConnection: Upgrade\\r\\nUpgrade: flood/1\\r\\n\\r\\n",
            "CONNECT x:443 HTTP/1.1\\r\\nHost: x:443\\r\\n\\r\\n",
        ]
    )
    func floodAfterUpgrade(request: String) async throws {
        let result = try await withServer(Self.app) { server in
            try await runHostile(
                """
                s = connect()
                s.sendall(b"\(request)")
                sent, end = 0, "flooded"
                try:
                    while sent < 50 * 1024 * 1024:
                        s.sendall(b"f" * 65536)
                        sent += 65536
                except socket.timeout:
                    end = "stalled"
                except OSError:
                    end = "closed"
                s.close()
                emit({"end": end, "sent": sent, "next": normal("/next")})
                """,
                port: server.port
            )
        }
        // The server stops the flood (a close) rather than holding 50 MiB.
        #expect(result["end"] as? String == "closed", "\(result)")
        #expect(result["next"] as? String == "200 ok /next")
    }
}
