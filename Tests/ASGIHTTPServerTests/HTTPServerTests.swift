import ASGI
import ASGIHTTPServer
import AsyncBridge
import Foundation
import InMemoryLogging
import Logging
import TestSupport
import Testing

/// Requests end to end over real sockets with curl and raw HTTP/1.1 from Python.
@Suite(.timeLimit(.minutes(1)))
struct HTTPServerTests {
    @Test("Two requests reuse one keep-alive connection")
    func keepAliveReuse() async throws {
        let clients = Reports<String>()
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            clients.report("\(http.client?.port ?? -1)")
            try await respond(send, "ok \(http.path)")
        }
        let result = try await withServer(app) { server in
            try await curl(["-w", "|%{num_connects}\n", "\(server.url)/one", "\(server.url)/two"])
        }
        // curl reports 1 new connection for the first transfer and 0 for the second.
        #expect(result.stdout == "ok /one|1\nok /two|0\n")
        let first = try await clients.next()
        let second = try await clients.next()
        #expect(first == second)
    }

    @Test("The scope carries addresses, scheme, version, raw path, query and headers as sent")
    func scopeFields() async throws {
        let scopes = Reports<HTTPScope>()
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            scopes.report(http)
            try await respond(send, "ok")
        }
        let result = try await withServer(app) { server in
            try await curl([
                "-H", "X-Repeat: one", "-H", "X-Mixed-Case: Value", "-H", "X-Repeat: two",
                "\(server.url)/caf%C3%A9/a%2Fb?q=1&r=%20",
            ])
        }
        #expect(result.stdout == "ok")
        let scope = try await scopes.next()
        #expect(scope.method == "GET")
        #expect(scope.httpVersion == "1.1")
        #expect(scope.scheme == "http")
        #expect(scope.path == "/café/a/b")
        #expect(scope.rawPath == Array("/caf%C3%A9/a%2Fb".utf8))
        #expect(scope.queryString == Array("q=1&r=%20".utf8))
        #expect(scope.rootPath == "")
        #expect(scope.client?.host == "127.0.0.1")
        #expect(scope.server?.host == "127.0.0.1")
        #expect(scope.server?.port != nil && scope.client?.port != nil)
        let names = scope.headers.map(\.nameString)
        #expect(names == ["host", "user-agent", "accept", "x-repeat", "x-mixed-case", "x-repeat"])
        #expect(scope.headers.values(for: "x-repeat") == ["one", "two"])
        #expect(scope.headers["x-mixed-case"] == "Value")
        #expect(scope.extensions?["http.response.trailers"] != nil)
    }

    @Test("root_path prefixes path and raw_path and is reported in the scope")
    func rootPath() async throws {
        let scopes = Reports<HTTPScope>()
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            scopes.report(http)
            try await respond(send, http.path)
        }
        let configuration = testConfiguration { $0.rootPath = "/api" }
        let result = try await withServer(app, configuration: configuration) { server in
            try await curl(["\(server.url)/users/%C3%A9?x=1"])
        }
        #expect(result.stdout == "/api/users/é")
        let scope = try await scopes.next()
        #expect(scope.rootPath == "/api")
        #expect(scope.path == "/api/users/é")
        #expect(scope.rawPath == Array("/api/users/%C3%A9".utf8))
        #expect(scope.queryString == Array("x=1".utf8))
    }

    @Test("Pipelined requests are answered in order on one connection")
    func pipelining() async throws {
        let app = ASGIApp { scope, receive, send in
            guard case .http(let http) = scope else { return }
            let body = try await readBody(receive)
            try await respond(send, "\(http.path):\(body.count)")
        }
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
                      b"POST /b HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\n\\r\\nxyz"
                      b"GET /c HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            data, bodies = b"", []
            while len(bodies) < 3:
                head, sep, rest = data.partition(b"\\r\\n\\r\\n")
                if sep:
                    fields = dict(line.split(b": ", 1) for line in head.split(b"\\r\\n")[1:])
                    length = int(fields[b"content-length"])
                    if len(rest) >= length:
                        bodies.append(rest[:length].decode())
                        data = rest[length:]
                        continue
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            print(" ".join(bodies))
            """
        let result = try await withServer(app) { server in
            try await python(script, ["\(server.port)"])
        }
        #expect(result.stdout == "/a:0 /b:3 /c:0\n", "\(result.stderr)")
    }

    @Test("An error before the response starts becomes a 500 and is logged; the connection stays usable")
    func errorBeforeStart() async throws {
        struct Boom: Error {}
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            if http.path == "/boom" { throw Boom() }
            try await respond(send, "fine")
        }
        let handler = InMemoryLogHandler()
        let result = try await withServer(app, logger: memoryLogger(handler)) { server in
            try await curl(["-w", "|%{http_code}|%{num_connects}\n", "\(server.url)/boom", "\(server.url)/ok"])
        }
        #expect(result.stdout == "Internal Server Error|500|1\nfine|200|0\n")
        #expect(handler.entries.contains { $0.level == .error && "\($0.message)".contains("Boom") })
    }

    @Test("An application that returns without a response gets a 500 and a log line")
    func returnWithoutResponse() async throws {
        let app = ASGIApp { _, _, _ in }
        let handler = InMemoryLogHandler()
        let result = try await withServer(app, logger: memoryLogger(handler)) { server in
            try await curl(["-w", "|%{http_code}", "\(server.url)/"])
        }
        #expect(result.stdout == "Internal Server Error|500")
        #expect(handler.entries.contains { $0.level == .error && "\($0.message)".contains("without starting") })
    }

    @Test("Events out of order make send throw ASGIProtocolError to the application")
    func outOfOrderSend() async throws {
        let errors = Reports<String>()
        let app = ASGIApp { scope, _, send in
            guard case .http = scope else { return }
            do {
                try await send(.httpResponseBody(body: Array("too early".utf8)))
            } catch let error as ASGIProtocolError {
                errors.report(error.message)
            }
            try await respond(send, "recovered")
            do {
                try await send(.httpResponseBody(body: Array("too late".utf8)))
            } catch let error as ASGIProtocolError {
                errors.report(error.message)
            }
        }
        let result = try await withServer(app) { server in
            try await curl(["\(server.url)/"])
        }
        #expect(result.stdout == "recovered")
        #expect(try await errors.next().contains("'http.response.start' must come first"))
        #expect(try await errors.next().contains("already complete"))
    }

    @Test("An error after the response started aborts the connection")
    func errorAfterStart() async throws {
        struct Boom: Error {}
        let app = ASGIApp { _, _, send in
            try await send(.httpResponseStart(status: 200))
            try await send(.httpResponseBody(body: Array("partial".utf8), moreBody: true))
            throw Boom()
        }
        let result = try await withServer(app) { server in
            try await curl(["-w", "|%{http_code}", "\(server.url)/"])
        }
        // The chunked response never ends: curl reports a transfer error.
        #expect(result.status != 0)
        #expect(result.stdout.hasPrefix("partial"))
    }

    @Test("HEAD responses carry no body; HTTP/1.0 gets a close-delimited stream")
    func headAndHTTP10() async throws {
        let app = ASGIApp { scope, _, send in
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
            try await send(.httpResponseBody(body: Array("abc".utf8), moreBody: true))
            try await send(.httpResponseBody(body: Array("def".utf8)))
        }
        let (head, http10) = try await withServer(app) { server in
            let head = try await curl(["-I", "\(server.url)/"])
            let http10 = try await curl(["--http1.0", "-i", "\(server.url)/"])
            return (head, http10)
        }
        #expect(head.stdout.hasPrefix("HTTP/1.1 200"))
        #expect(!head.stdout.contains("abc"))
        #expect(http10.stdout.hasPrefix("HTTP/1.0 200"))
        #expect(http10.stdout.lowercased().contains("connection: close"))
        #expect(http10.stdout.hasSuffix("abcdef"))
    }

    @Test("A body read cancelled by the application does not cost the keep-alive connection")
    func cancelledReceive() async throws {
        let app = ASGIApp { scope, receive, send in
            guard case .http(let http) = scope else { return }
            // As an adapter does: a child reads the body; the application answers and cancels it
            // while the child waits for a body the client has not sent yet.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await readBody(receive) }
                try await respond(send, "answered \(http.path)")
                group.cancelAll()
                _ = try? await group.next()
            }
        }
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            def response():
                data = b""
                while b"answered" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        return "closed"
                    data += chunk
                return data.split(b"\\r\\n\\r\\n", 1)[1].decode()
            s.sendall(b"POST /one HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\n\\r\\n")
            first = response()
            s.sendall(b"hello")
            s.sendall(b"GET /two HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            print(first, "/", response())
            """
        let result = try await withServer(app) { server in
            try await python(script, ["\(server.port)"])
        }
        #expect(result.stdout == "answered /one / answered /two\n", "\(result.stderr)")
    }

    @Test("Each request has its own Local scope: values cross the bridge and do not leak to the next request")
    func requestLocals() async throws {
        let user = Local<String>()
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            let before = user.value ?? "unset"
            try user.set(String(http.path.dropFirst()))
            let seenBySyncCode = try await SyncToAsync.run { user.value ?? "unset" }
            try await respond(send, "\(before)->\(seenBySyncCode)")
        }
        let result = try await withServer(app) { server in
            try await curl(["-w", "|%{num_connects}\n", "\(server.url)/ada", "\(server.url)/grace"])
        }
        #expect(result.stdout == "unset->ada|1\nunset->grace|0\n")
    }

    @Test("A thousand keep-alive requests through WSGIToASGI on one connection all succeed", arguments: [false, true])
    func wsgiKeepAlive(onEventLoops: Bool) async throws {
        let legacy = WSGIApp { environ, startResponse in
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return [Array("hello \(environ["PATH_INFO"] ?? "")".utf8)]
        }
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("asgi-http-\(UUID().uuidString).curl")
        defer { try? FileManager.default.removeItem(at: config) }
        let result = try await withServer(WSGIToASGI(legacy), configuration: testConfiguration { $0.runsOnEventLoops = onEventLoops }) { server in
            let lines = (0..<1000).map { "url = \"\(server.url)/r\($0)\"\noutput = \"/dev/null\"\n" }
            try lines.joined().write(to: config, atomically: true, encoding: .utf8)
            return try await curl(["--config", config.path, "-w", "%{http_code} %{num_connects}\n"])
        }
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 1000)
        #expect(lines.allSatisfy { $0.hasPrefix("200 ") })
        #expect(lines.filter { $0.hasSuffix(" 1") }.count == 1)
    }
}
