import ASGI
import ASGIConformance
import ASGIHummingbird
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// The Hummingbird mount held to the same tables as every other frontend of the package
/// (`Tests/ConformanceTable`, written by the core package's conformance matrix). A raw client sends
/// each request exactly as the matrix sends it to the HTTP server and nginx.
///
/// Transport differences, named:
/// - ports: the client's ephemeral port, the listening port (as in the core matrix);
/// - `http_version`: Hummingbird's request does not carry its HTTP version; the mount reports
///   `1.1`, which is what the raw client sends;
/// - extensions: the mount announces trailers and pathsend, as the HTTP server does.
/// A request context that knows the client's address (the scope's `client`).
struct AddressedContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

@Suite("Hummingbird mount: the conformance tables", .serialized)
struct ConformanceTests {
    enum Kind: String, CaseIterable, Sendable { case wsgi, asgi }

    /// A mounted conformance application in a live Hummingbird application.
    func withMount<R: Sendable>(_ kind: Kind, file: String, observations: Observations, _ body: @Sendable (Int) async throws -> R) async throws -> R {
        let logger = Logger(label: "conformance") { _ in SwiftLogNoOpLogHandler() }
        let application: any ASGIApplication =
            kind == .asgi
            ? ConformanceApps.asgi(file: file, observations: observations)
            : WSGIToASGI(
                ConformanceApps.wsgi(file: file, observations: observations),
                lifespan: WSGILifespan(startup: {}, shutdown: {}),
                logger: logger
            )
        let lifespan = ASGILifespan(application, logger: logger)
        let router = Router(context: AddressedContext.self)
        router.get("/native") { _, _ in "native" }
        router.mount(ConformanceTable.mountPoint, application, lifespan: lifespan)
        var app = Application(router: router, logger: logger)
        app.addLifespan(lifespan)
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await body(port)
        }
    }

    func send(_ probe: ConformanceProbe, port: Int) async throws -> RawResponse {
        try await rawHTTP(
            port: port,
            rawRequest(
                probe.method,
                ConformanceTable.mountPoint + probe.target,
                port: port,
                headers: probe.headers.map { "\($0.0): \($0.1)" },
                body: probe.body,
                keepAlive: probe.keepAlive
            ),
            keepAlive: probe.keepAlive
        )
    }

    static func json(_ body: [UInt8]) -> [String: String] {
        ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
    }

    static func makeFile() throws -> String {
        let path = NSTemporaryDirectory() + "asgi-hb-conformance-\(UUID().uuidString).bin"
        let block = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        for _ in 0..<64 { handle.write(block) }
        try handle.close()
        return path
    }

    @Test("The whole environ and scope, every key, as the table says", arguments: Kind.allCases)
    func scopes(kind: Kind) async throws {
        let table = try ConformanceTable.scopes()[kind.rawValue] ?? [:]
        try await withMount(kind, file: "/dev/null", observations: Observations()) { port in
            for probe in ConformanceTable.scopeProbes {
                let answer = try await send(probe, port: port)
                #expect(answer.status == 200, "\(probe.name): \(answer.status)")
                let dump = Self.json(answer.body)
                #expect(dump[kind == .asgi ? "extensions" : "asgi.scope.extensions"] == "http.response.pathsend,http.response.trailers")
                let normalized = ConformanceTable.normalized(dump, droppingUnderscoredHeaders: kind == .asgi)
                let expected = table[probe.name] ?? [:]
                for key in Set(normalized.keys).union(expected.keys).sorted() where normalized[key] != expected[key] {
                    Issue.record(
                        "\(kind), \(probe.name), \(key): \(normalized[key]?.debugDescription ?? "missing") but the table says \(expected[key]?.debugDescription ?? "missing")"
                    )
                }
            }
        }
    }

    @Test("The answers to the edge-case table", arguments: Kind.allCases)
    func answers(kind: Kind) async throws {
        let file = try Self.makeFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fileBytes = try Data(contentsOf: URL(fileURLWithPath: file))
        try await withMount(kind, file: file, observations: Observations()) { port in
            for entry in try ConformanceTable.answers() {
                let answer = try await send(entry.probe, port: port)
                let what = "\(kind), \(entry.name)"
                #expect(answer.status == entry.hummingbirdStatus ?? entry.expect.status, "\(what): status \(answer.status)")
                if entry.wire == true { continue }
                if let body = entry.expect.body { #expect(String(decoding: answer.body, as: UTF8.self) == body, "\(what): body") }
                if let prefix = entry.expect.bodyPrefix { #expect(String(decoding: answer.body, as: UTF8.self).hasPrefix(prefix), "\(what): body") }
                if let complete = entry.expect.complete { #expect(answer.complete == complete, "\(what): complete") }
                for (name, value) in entry.expect.headers ?? [:] { #expect(answer.header(name) == value, "\(what): \(name)") }
                for (key, value) in entry.expect.json?[kind.rawValue] ?? [:] { #expect(Self.json(answer.body)[key] == value, "\(what): \(key)") }
                if entry.expect.file == true { #expect(Data(answer.body) == fileBytes, "\(what): the file arrived whole") }
            }
        }
    }

    @Test("Any method reaches the mounted application; an application's status 1000 is a 500, never a trap")
    func everyMethodAndNoTrap() async throws {
        let router = Router()
        router.mount(
            "/any",
            ASGIApp { scope, _, send in
                guard case .http(let http) = scope else { return }
                if http.path.hasSuffix("/bad-status") {
                    try await send(.httpResponseStart(status: 1000))
                }
                try await send(.httpResponseStart(status: 200))
                try await send(.httpResponseBody(body: Array(http.method.utf8)))
            }
        )
        let app = Application(router: router, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Every method NIO's parser takes: registered ones, and extension ones (PURGE) by the fallback.
            for method in ["GET", "PROPFIND", "MKCOL", "SEARCH", "PURGE", "NOTIFY", "SUBSCRIBE"] {
                let answer = try await rawHTTP(port: port, rawRequest(method, "/any/x", port: port))
                #expect(answer.status == 200 && String(decoding: answer.body, as: UTF8.self) == method, "\(method): \(answer.status)")
            }
            let bad = try await rawHTTP(port: port, rawRequest("GET", "/any/bad-status", port: port))
            #expect(bad.status == 500)
            #expect(String(decoding: bad.body, as: UTF8.self) == "Internal Server Error")
        }
    }

    @Test("A failed lifespan startup stops the Hummingbird application with the application's message")
    func startupFailure() async throws {
        let app = ASGIApp { scope, receive, send in
            guard case .lifespan = scope else { return }
            _ = try await receive()
            try await send(.lifespanStartupFailed(message: "the database is unreachable"))
        }
        let lifespan = ASGILifespan(app)
        let router = Router()
        router.mount("/app", app, lifespan: lifespan)
        var application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }
        )
        application.addLifespan(lifespan)
        do {
            try await application.run()
            Issue.record("the application ran after a failed startup")
        } catch let error as ASGILifespanError {
            #expect(error.message == "Application startup failed: the database is unreachable")
        }
    }
}
