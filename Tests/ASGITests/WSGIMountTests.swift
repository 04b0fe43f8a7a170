import ASGITesting
import AsyncBridge
import Foundation
import TestSupport
import Testing

@_spi(ASGIFrontend) @testable import ASGI

/// An ASGI app that answers `async <path> <root path>` and records the scope types it saw.
func asyncHalf(_ scopes: Recorder<String>) -> ASGIApp {
    ASGIApp { scope, receive, send in
        switch scope {
        case .http(let http):
            scopes.append("http")
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
            try await send(.httpResponseBody(body: bytes("async \(http.path) \(http.rootPath)")))
        case .lifespan:
            scopes.append("lifespan")
            if case .lifespanStartup = try await receive() { try await send(.lifespanStartupComplete) }
        case .websocket:
            scopes.append("websocket")
            _ = try await receive()
            try await send(.websocketClose())
        }
    }
}

/// A blocking request as a FastCGI worker makes it: CGI variables, a variable only the web server
/// knows (`DOCUMENT_ROOT`), and the body.
func blockingEnviron(_ method: String, _ path: String, body: [UInt8] = [], extra: [String: String] = [:]) -> Environ {
    var variables = [
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "CONTENT_LENGTH": body.isEmpty ? "" : String(body.count), "DOCUMENT_ROOT": "/srv/www",
    ]
    variables.merge(extra) { $1 }
    return Environ(variables: variables, input: WSGIInput(bytes: body))
}

@Suite("WSGIMount")
struct WSGIMountTests {
    // MARK: Async frontends

    /// Under an async server, requests under the mount point reach the WSGI-style application with
    /// SCRIPT_NAME extended by it; every other path, and the WebSocket and lifespan scopes, reach
    /// the ASGI application unchanged.
    @Test func asyncFrontendRoutesByPath() async throws {
        let environs = Recorder<[String: String]>()
        let scopes = Recorder<String>()
        let app = WSGIMount("legacy/", WSGIToASGI(recordingApp(environs)), in: asyncHalf(scopes))
        #expect(app.path == "/legacy")

        for (path, rootPath, pathInfo) in [("/legacy/notes", "", "/notes"), ("/legacy", "", ""), ("/app/legacy/x", "/app", "/x")] {
            let response = try await HTTPCommunicator(application: app, method: "GET", path: path, rootPath: rootPath).getResponse(
                timeout: .seconds(60)
            )
            #expect(response.body.text == "ok")
            #expect(environs.values.last?["SCRIPT_NAME"] == rootPath + "/legacy")
            #expect(environs.values.last?["PATH_INFO"] == pathInfo)
        }
        for path in ["/legacyx", "/", "/api/legacy/notes"] {
            let response = try await HTTPCommunicator(application: app, method: "GET", path: path).getResponse(timeout: .seconds(60))
            #expect(response.body.text == "async \(path) ")
        }
        #expect(environs.values.count == 3)

        let socket = WebSocketCommunicator(application: app, path: "/legacy/ws")
        #expect(try await socket.connect(timeout: .seconds(60)).accepted == false)
        let lifespan = ApplicationCommunicator(application: app, scope: .lifespan(LifespanScope()))
        try await lifespan.sendInput(.lifespanStartup)
        #expect(try await lifespan.receiveOutput(timeout: .seconds(60)) == .lifespanStartupComplete)
        #expect(scopes.values == ["http", "http", "http", "websocket", "lifespan"])
    }

    /// A mount at `/` puts the WSGI-style application in front of every HTTP request.
    @Test func mountAtTheRootTakesEveryPath() async throws {
        let environs = Recorder<[String: String]>()
        let app = WSGIMount("/", WSGIToASGI(recordingApp(environs)), in: asyncHalf(Recorder()))
        #expect(app.path == "")
        let response = try await HTTPCommunicator(application: app, method: "GET", path: "/anything").getResponse(timeout: .seconds(60))
        #expect(response.body.text == "ok")
        #expect(environs.values.first?["SCRIPT_NAME"] == "")
        #expect(environs.values.first?["PATH_INFO"] == "/anything")
    }

    // MARK: Blocking frontends

    /// Under a blocking frontend, a request under the mount point goes to the WSGI-style
    /// application itself, on the frontend's thread, with the frontend's own environ (its
    /// DOCUMENT_ROOT, which no ASGI scope carries, proves no second environ was built).
    @Test func blockingFrontendHandsLegacyRequestsOverDirectly() async throws {
        let environs = Recorder<[String: String]>()
        let threads = Recorder<UInt>()
        let legacy = WSGIApp { environ, startResponse in
            environs.append(environ.variables)
            threads.append(UInt(pthread_self()))
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return [bytes("legacy " + (environ["PATH_INFO"] ?? "-"))]
        }
        let app = ASGIToWSGI(WSGIMount("/legacy", WSGIToASGI(legacy), in: asyncHalf(Recorder())))
        let captured = CapturedResponse()
        let worker = try await onWorkerThread { () throws -> UInt in
            var body = try app(blockingEnviron("GET", "/legacy/notes"), captured.startResponse)
            #expect(try body.next() == bytes("legacy /notes"))
            return UInt(pthread_self())
        }
        #expect(captured.status == "200 OK")
        #expect(captured.chunks.isEmpty, "the body goes back to the frontend, which iterates it")
        let environ = try #require(environs.values.first)
        #expect(environ["SCRIPT_NAME"] == "/legacy")
        #expect(environ["PATH_INFO"] == "/notes")
        #expect(environ["DOCUMENT_ROOT"] == "/srv/www")
        #expect(threads.values == [worker])
    }

    /// Paths outside the mount point go to the ASGI application through the events, as any ASGI
    /// application under a blocking frontend.
    @Test func blockingFrontendServesOtherPathsThroughASGI() async throws {
        let environs = Recorder<[String: String]>()
        let app = ASGIToWSGI(WSGIMount("/legacy", WSGIToASGI(recordingApp(environs)), in: asyncHalf(Recorder())))
        let captured = CapturedResponse()
        try await onWorkerThread {
            _ = try app(blockingEnviron("GET", "/api/notes"), captured.startResponse)
        }
        #expect(captured.status == "200 OK")
        #expect(captured.chunks.flatMap { $0 }.text == "async /api/notes ")
        #expect(environs.values.isEmpty)
    }

    /// The legacy application's body limit holds either way: a declared body past it is refused
    /// with 413 (through the async way, which answers for it) and the application never runs; a
    /// body within it reaches the application directly.
    @Test func blockingFrontendKeepsTheBodyLimit() async throws {
        let environs = Recorder<[String: String]>()
        let app = ASGIToWSGI(WSGIMount("/legacy", WSGIToASGI(recordingApp(environs), maxRequestBodyBytes: 10), in: asyncHalf(Recorder())))
        let refused = CapturedResponse()
        try await onWorkerThread {
            _ = try app(blockingEnviron("POST", "/legacy/form", body: Array(repeating: 0x61, count: 11)), refused.startResponse)
        }
        #expect(refused.status == "413 Content Too Large")
        #expect(environs.values.isEmpty)

        let accepted = CapturedResponse()
        try await onWorkerThread {
            var body = try app(blockingEnviron("POST", "/legacy/form", body: Array(repeating: 0x61, count: 10)), accepted.startResponse)
            _ = try body.next()
        }
        #expect(environs.values.first?["DOCUMENT_ROOT"] == "/srv/www")
    }

    /// A request whose body length is not declared, and every request of a legacy application
    /// that runs on an executor of its own, take the async way (its environ is built from the ASGI
    /// scope, so the web server's DOCUMENT_ROOT is not in it).
    @Test func blockingFrontendTakesTheAsyncWayWhenTheDirectOneWouldChangeBehaviour() async throws {
        let pool = BlockingThreadPool(threads: 1, queueLimit: nil, name: "mount-test")
        defer { pool.shutdown() }
        let environs = Recorder<[String: String]>()
        let chunked = ASGIToWSGI(WSGIMount("/legacy", WSGIToASGI(recordingApp(environs)), in: asyncHalf(Recorder())))
        let pooled = ASGIToWSGI(WSGIMount("/legacy", WSGIToASGI(recordingApp(environs), executor: pool), in: asyncHalf(Recorder())))
        let first = CapturedResponse()
        let second = CapturedResponse()
        try await onWorkerThread {
            _ = try chunked(
                blockingEnviron("POST", "/legacy/x", body: bytes("abc"), extra: ["CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"]),
                first.startResponse
            )
            _ = try pooled(blockingEnviron("GET", "/legacy/x"), second.startResponse)
        }
        #expect(first.chunks.flatMap { $0 }.text == "ok")
        #expect(second.chunks.flatMap { $0 }.text == "ok")
        #expect(environs.values.count == 2)
        #expect(environs.values.allSatisfy { $0["DOCUMENT_ROOT"] == nil && $0["SCRIPT_NAME"] == "/legacy" && $0["PATH_INFO"] == "/x" })
    }

    /// A mount whose ASGI application is another mount: both legacy applications are reached
    /// directly.
    @Test func nestedMountsAreFollowed() async throws {
        let outer = Recorder<[String: String]>()
        let inner = Recorder<[String: String]>()
        let app = ASGIToWSGI(
            WSGIMount("/old", WSGIToASGI(recordingApp(outer)), in: WSGIMount("/older", WSGIToASGI(recordingApp(inner)), in: asyncHalf(Recorder())))
        )
        try await onWorkerThread {
            _ = try app(blockingEnviron("GET", "/old/a"), CapturedResponse().startResponse)
            _ = try app(blockingEnviron("GET", "/older/b"), CapturedResponse().startResponse)
        }
        #expect(outer.values.map { $0["PATH_INFO"] } == ["/a"])
        #expect(inner.values.map { $0["SCRIPT_NAME"] } == ["/older"])
        #expect(inner.values.allSatisfy { $0["DOCUMENT_ROOT"] == "/srv/www" })
    }
}
