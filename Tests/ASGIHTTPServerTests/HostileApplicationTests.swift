import ASGI
import ASGIHTTPServer
import InMemoryLogging
import Logging
import TestSupport
import Testing

/// Applications that break their response's framing: the server keeps HTTP/1.1's framing for
/// them, so no pipelined response is swallowed or injected, and the next request is served.
@Suite(.timeLimit(.minutes(2)))
struct HostileApplicationTests {
    /// A plain ASGI application that misbehaves by path.
    private static let asgiApp = ASGIApp { scope, receive, send in
        guard case .http(let http) = scope else { return }
        _ = try await readBody(receive)
        switch http.path {
        case "/long":
            try await send(.httpResponseStart(status: 200, headers: [("content-length", "5")]))
            try await send(.httpResponseBody(body: Array("hello".utf8), moreBody: true))
            try await send(.httpResponseBody(body: Array("HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected".utf8)))
        case "/long-one":
            try await send(.httpResponseStart(status: 200, headers: [("content-length", "5")]))
            try await send(.httpResponseBody(body: Array("helloHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected".utf8)))
        case "/short":
            try await send(.httpResponseStart(status: 200, headers: [("content-length", "10")]))
            try await send(.httpResponseBody(body: Array("abc".utf8)))
        case "/204", "/304":
            let status = http.path == "/204" ? 204 : 304
            try await send(.httpResponseStart(status: status, headers: [("content-length", "44"), ("x-kept", "yes")]))
            try await send(.httpResponseBody(body: Array("HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected".utf8)))
        case "/duplicate":
            try await send(.httpResponseStart(status: 200, headers: [("content-length", "2"), ("content-length", "2")]))
            try await send(.httpResponseBody(body: Array("ok".utf8)))
        case "/conflicting":
            try await send(.httpResponseStart(status: 200, headers: [("content-length", "2"), ("content-length", "20")]))
            try await send(.httpResponseBody(body: Array("ok".utf8)))
        case "/malformed":
            try await send(.httpResponseStart(status: 200, headers: [("content-length", "2, 2")]))
            try await send(.httpResponseBody(body: Array("ok".utf8)))
        case "/informational":
            try await send(.httpResponseStart(status: 103, headers: [("link", "</a.css>")]))
            try await send(.httpResponseBody(body: Array("HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected".utf8)))
        default:
            try await respond(send, "ok \(http.method) \(http.path)")
        }
    }

    /// The same misbehaviour from a WSGI-style application.
    private static let wsgiApp = WSGIToASGI(
        WSGIApp { environ, startResponse in
            _ = try environ.input.read()
            let path = environ["PATH_INFO"] ?? ""
            let injected = Array("HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected".utf8)
            switch path {
            case "/long":
                _ = try startResponse("200 OK", [("Content-Length", "5")], nil)
                return [Array("hello".utf8), injected]
            case "/short":
                _ = try startResponse("200 OK", [("Content-Length", "10")], nil)
                return [Array("abc".utf8)]
            case "/204", "/304":
                _ = try startResponse(path == "/204" ? "204 No Content" : "304 Not Modified", [("Content-Length", "44"), ("X-Kept", "yes")], nil)
                return [injected]
            case "/duplicate":
                _ = try startResponse("200 OK", [("Content-Length", "2"), ("Content-Length", "2")], nil)
                return [Array("ok".utf8)]
            case "/malformed":
                _ = try startResponse("200 OK", [("Content-Length", "-2")], nil)
                return [Array("ok".utf8)]
            default:
                _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
                return [Array("ok \(environ["REQUEST_METHOD"] ?? "") \(path)".utf8)]
            }
        }
    )

    /// Sends `first` and a pipelined `GET /after` on one connection; reads the first answer, then
    /// what follows (the second answer, or the end of the connection).
    private static func pipelined(_ first: String, method: String = "GET") -> String {
        """
        s = connect()
        s.sendall(b"\(method) \(first) HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /after HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        first, rest = read_response(s, head_only=\(method == "HEAD" ? "True" : "False"))
        second, rest = read_response(s, rest) if first else (None, rest)
        emit({"first": first, "second": second, "end": ending(s, rest) if second is None else "answered", "next": normal("/next")})
        """
    }

    private static func check(
        _ app: any ASGIApplication,
        _ path: String,
        method: String = "GET",
        logger: Logger = memoryLogger()
    ) async throws -> (first: RawResponse, second: RawResponse?, end: String) {
        let result = try await withServer(app, logger: logger) { server in
            try await runHostile(Self.pipelined(path, method: method), port: server.port)
        }
        let first = try #require(RawResponse(result["first"]), "\(path): \(result)")
        #expect(result["next"] as? String == "200 ok GET /next", "\(path): \(result)")
        return (first, RawResponse(result["second"]), result["end"] as? String ?? "")
    }

    @Test("A body longer than its Content-Length is cut at the length, logged, and the connection closed", arguments: ["/long", "/long-one"])
    func bodyLongerThanDeclared(path: String) async throws {
        let log = InMemoryLogHandler()
        let (first, second, end) = try await Self.check(Self.asgiApp, path, logger: memoryLogger(log))
        #expect(first.status == 200)
        #expect(first.body == "hello")
        #expect(second == nil, "a pipelined answer after a broken response")
        #expect(end == "closed")
        #expect(log.entries.contains { $0.level == .error && "\($0.message)".contains("Content-Length") }, "\(log.entries)")
    }

    @Test("A WSGI-style body longer than its Content-Length is cut at the length")
    func wsgiBodyLongerThanDeclared() async throws {
        let (first, second, _) = try await Self.check(Self.wsgiApp, "/long")
        #expect(first.status == 200)
        #expect(first.body == "hello")
        // The WSGI layer stops at the declared length, so framing holds and the connection goes on.
        #expect(second?.body == "ok GET /after")
    }

    @Test("A body shorter than its Content-Length closes the connection; the pipelined request is not swallowed")
    func bodyShorterThanDeclared() async throws {
        for app in [Self.asgiApp, Self.wsgiApp] as [any ASGIApplication] {
            let result = try await withServer(app) { server in
                try await runHostile(
                    """
                    s = connect()
                    s.sendall(b"GET /short HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /after HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                    first, rest = read_response(s, head_only=True)
                    emit({"first": first, "rest": rest.decode("latin-1"), "end": ending(s), "next": normal("/next")})
                    """,
                    port: server.port
                )
            }
            let first = try #require(RawResponse(result["first"]), "\(result)")
            #expect(first.status == 200)
            #expect(first.header("content-length") == "10")
            // The three bytes, then the end of the connection: never the next response.
            let rest = (result["rest"] as? String ?? "") + (result["end"] as? String ?? "")
            #expect(rest == "abcclosed" || (result["rest"] as? String == "abc" && result["end"] as? String == "reset"), "\(result)")
            #expect(result["next"] as? String == "200 ok GET /next")
        }
    }

    @Test("204 and 304 never carry a body; the pipelined request is answered", arguments: ["/204", "/304"])
    func bodilessStatus(path: String) async throws {
        for app in [Self.asgiApp, Self.wsgiApp] as [any ASGIApplication] {
            let (first, second, _) = try await Self.check(app, path)
            #expect(first.status == (path == "/204" ? 204 : 304))
            #expect(first.header("x-kept") == "yes")
            if path == "/204" {
                #expect(first.header("content-length") == nil, "a 204 carries no Content-Length")
            } else {
                // A 304 may keep the length of what it stands for, or drop it.
                #expect(first.header("content-length") == nil || first.header("content-length") == "44")
            }
            #expect(second?.status == 200)
            #expect(second?.body == "ok GET /after", "the body was sent as the next response")
        }
    }

    @Test("HEAD never carries a body; the pipelined request is answered")
    func headHasNoBody() async throws {
        for app in [Self.asgiApp, Self.wsgiApp] as [any ASGIApplication] {
            let (first, second, _) = try await Self.check(app, "/long", method: "HEAD")
            #expect(first.status == 200)
            #expect(first.header("content-length") == "5")
            #expect(second?.body == "ok GET /after")
        }
    }

    @Test(
        "Duplicate or malformed Content-Length, or a 1xx as the answer, from the application: 500, and the connection goes on",
        arguments: ["/duplicate", "/conflicting", "/malformed", "/informational"]
    )
    func badContentLength(path: String) async throws {
        var apps: [any ASGIApplication] = [Self.asgiApp]
        if path == "/duplicate" || path == "/malformed" { apps.append(Self.wsgiApp) }
        for app in apps {
            let (first, second, _) = try await Self.check(app, path)
            #expect(first.status == 500, "\(path)")
            #expect(second?.body == "ok GET /after", "\(path)")
        }
    }
}
