import ASGI
import ASGIHummingbird
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

/// A legacy app that reports what it saw.
let reportingApp = WSGIApp { environ, startResponse in
    let body = try environ.input.read()
    _ = try startResponse("200 OK", [("Content-Type", "text/plain"), ("X-Legacy", "yes")], nil)
    let line =
        "\(environ["REQUEST_METHOD"] ?? "") \(environ["SCRIPT_NAME"] ?? "") \(environ["PATH_INFO"] ?? "") \(environ["QUERY_STRING"] ?? "") \(body.count)"
    return [Array(line.utf8)]
}

@Suite("Mount in Hummingbird")
struct MountTests {
    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/native") { _, _ in "native" }
        router.mount("/legacy", WSGIToASGI(reportingApp))
        router.group("/api").mount("/old", WSGIToASGI(reportingApp))
        return router
    }

    /// Requests under the prefix reach the ASGI app with the mount point as root path; other routes
    /// stay native. Both with the in-process router and over a real HTTP connection.
    @Test(arguments: [TestingSetup.router, .live])
    func routesUnderThePrefixGoToTheApp(setup: TestingSetup) async throws {
        let app = Application(router: router())
        try await app.test(setup) { client in
            try await client.execute(uri: "/native", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "native")
            }
            try await client.execute(uri: "/legacy/a/b?x=1", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("x-legacy")!] == "yes")
                #expect(String(buffer: response.body) == "GET /legacy /a/b x=1 0")
            }
            try await client.execute(uri: "/legacy", method: .get) { response in
                #expect(String(buffer: response.body) == "GET /legacy   0")
            }
            // Escapes decoded as every server of the package does; a malformed one kept whole.
            try await client.execute(uri: "/legacy/a%20b%zz", method: .get) { response in
                #expect(String(buffer: response.body) == "GET /legacy /a b%zz  0")
            }
            try await client.execute(uri: "/api/old/x", method: .delete) { response in
                #expect(String(buffer: response.body) == "DELETE /api/old /x  0")
            }
            try await client.execute(uri: "/elsewhere", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    /// A path with a dot-segment never reaches the mounted application by prefix: `/legacy/../native`
    /// names `/native`, not a path under `/legacy`. It gets 400 (the package's one rule, as on the
    /// HTTP server), spelled plainly or percent-encoded; the next request is served.
    @Test(arguments: [TestingSetup.router, .live])
    func dotSegmentsAreRefused(setup: TestingSetup) async throws {
        let app = Application(router: router())
        try await app.test(setup) { client in
            for uri in ["/legacy/../native", "/legacy/%2e%2e/native", "/legacy/./a", "/legacy/a/..", "/api/old/..%2f..%2fx"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(String(buffer: response.body).contains("dot-segment"), "\(uri): \(String(buffer: response.body))")
                }
            }
            try await client.execute(uri: "/legacy/a..b/.x", method: .get) { response in
                #expect(String(buffer: response.body) == "GET /legacy /a..b/.x  0", "dots inside a segment are no dot-segment")
            }
        }
    }

    /// Bodies stream both ways: a 4 MiB upload is read by the legacy app; a streamed response of
    /// many chunks arrives whole.
    @Test(arguments: [TestingSetup.router, .live])
    func bodiesStreamBothWays(setup: TestingSetup) async throws {
        let router = Router()
        router.mount("/up", WSGIToASGI(reportingApp))
        router.mount(
            "/down",
            WSGIToASGI(
                WSGIApp { _, start in
                    _ = try start("200 OK", [], nil)
                    var remaining = 256
                    return WSGIClosureBody(next: {
                        guard remaining > 0 else { return nil }
                        remaining -= 1
                        return Array(repeating: UInt8(ascii: "z"), count: 16 * 1024)
                    })
                }
            )
        )
        let app = Application(router: router)
        try await app.test(setup) { client in
            let upload = ByteBuffer(repeating: 7, count: 4 << 20)
            try await client.execute(uri: "/up/file", method: .post, body: upload) { response in
                #expect(String(buffer: response.body) == "POST /up /file  \(4 << 20)")
            }
            try await client.execute(uri: "/down", method: .get) { response in
                #expect(response.body.readableBytes == 256 * 16 * 1024)
            }
        }
    }

    /// An ASGI app's failure before its response becomes a 500; an out-of-order event is rejected.
    @Test func failuresBecome500() async throws {
        struct Boom: Error {}
        let router = Router()
        router.mount("/boom", ASGIApp { _, _, _ in throw Boom() })
        router.mount(
            "/nostart",
            ASGIApp { _, _, send in
                try await send(.httpResponseBody(body: [1]))
            }
        )
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
            }
            try await client.execute(uri: "/nostart", method: .get) { response in
                #expect(response.status == .internalServerError)
            }
        }
    }

    /// Native ASGI apps get trailers through to the client when announced.
    @Test func asgiAppWithHeadersAndStatus() async throws {
        let router = Router()
        router.mount(
            "/asgi",
            ASGIApp { scope, receive, send in
                guard case .http(let http) = scope else { return }
                _ = try await receive()
                try await send(.httpResponseStart(status: 201, headers: [("x-path", http.path), ("x-root", http.rootPath)]))
                try await send(.httpResponseBody(body: Array("created".utf8), moreBody: true))
                try await send(.httpResponseBody(body: Array("!".utf8)))
            }
        )
        let app = Application(router: router)
        try await app.test(.live) { client in
            try await client.execute(uri: "/asgi/caf%C3%A9", method: .put) { response in
                #expect(response.status == .created)
                #expect(response.headers[HTTPField.Name("x-root")!] == "/asgi")
                #expect(response.headers[HTTPField.Name("x-path")!] == "/asgi/café")
                #expect(String(buffer: response.body) == "created!")
            }
        }
    }

    /// The lifespan runs with the Hummingbird application: startup before the server takes its
    /// first request (the state it fills is in that request's scope), shutdown once it stopped.
    @Test func lifespanRunsWithTheApplication() async throws {
        let events = Events()
        let app = ASGIApp { scope, receive, send in
            switch scope {
            case .lifespan(let lifespan):
                guard case .lifespanStartup = try await receive() else { return }
                lifespan.state["pool"] = "open"
                events.append("startup")
                try await send(.lifespanStartupComplete)
                guard case .lifespanShutdown = try await receive() else { return }
                events.append("shutdown")
                try await send(.lifespanShutdownComplete)
            case .http(let http):
                events.append("request")
                try await send(.httpResponseStart(status: 200))
                try await send(.httpResponseBody(body: Array("pool \(http.state?["pool"] as? String ?? "missing")".utf8)))
            case .websocket:
                return
            }
        }
        let lifespan = ASGILifespan(app)
        let router = Router()
        router.mount("/app", app, lifespan: lifespan)
        var application = Application(router: router)
        application.addLifespan(lifespan)
        try await application.test(.live) { client in
            try await client.execute(uri: "/app/x", method: .get) { response in
                #expect(String(buffer: response.body) == "pool open")
            }
            #expect(events.all == ["startup", "request"])
        }
        #expect(events.all == ["startup", "request", "shutdown"])
    }
}

/// What happened, in order.
final class Events: Sendable {
    private let list = Mutex<[String]>([])
    func append(_ event: String) { list.withLock { $0.append(event) } }
    var all: [String] { list.withLock { $0 } }
}
