import ASGI
import ASGIConformance
import ASGIFastCGI
import ASGIHTTPServer
import Foundation
import Logging
import TestSupport
import Testing

// The conformance matrix: the same two applications (WSGI-style and ASGI) served by FastCGI behind
// nginx, the HTTP server and HTTPCommunicator, compared on the whole environ and scope and on the
// answers for a table of edge cases. The Hummingbird mount is held to the same tables in its own
// package's tests (Integrations/ASGIHummingbird). Any difference fails, except the ones the
// transport makes, each named below with why.

/// A difference between frontends that comes from the transport, not from this package.
enum TransportException: String, CaseIterable, Sendable {
    /// Ports are the transport's: the client's ephemeral port, and each server's own listening
    /// port (`SERVER_PORT`, the scope's `server`, the `Host` header the client sent it; Debian's
    /// `fastcgi_params` even passes `HTTP_HOST` as nginx's `$host`, without the port, on purpose).
    case ports
    /// nginx sends CGI variables HTTP has no place for (`DOCUMENT_ROOT`, `SERVER_SOFTWARE`,
    /// `REQUEST_SCHEME`…): they reach the environ, and an ASGI scope's `fastcgi` extension.
    case fastcgiParameters
    /// Each frontend announces the extensions it carries: trailers over HTTP only, pathsend on the
    /// servers, the FastCGI parameters over FastCGI, none in the in-process communicator.
    case extensionsByCapability
    /// CGI carries `Content-Type` and `Content-Length` apart from the other headers, so their place
    /// among an ASGI scope's headers is lost over FastCGI: header lists compare as sorted lists.
    case cgiHeaderOrder
    /// nginx drops header names with `_` (`underscores_in_headers off`); the environ drops them on
    /// every frontend, but an ASGI scope over HTTP keeps them as sent.
    case nginxDropsUnderscoredHeaders
    /// nginx answers a request it cannot parse (a malformed `Content-Length`, a malformed percent
    /// escape in the path, which the other frontends keep as sent, as uvicorn does) itself, with
    /// its own status and error page.
    case nginxAnswersMalformedRequests
    /// nginx (1.22, `fastcgi_buffering off`) ends the client's response normally when the backend
    /// closes without `FCGI_END_REQUEST`, so a cut response looks whole to the client; that the
    /// backend does cut it is proven at the FastCGI level
    /// (`ProtocolTests.failureAfterStartCutsTheResponse`).
    case nginxCompletesCutResponses
    /// The in-process communicator has no wire: a malformed request line or header cannot reach it
    /// as such.
    case communicatorHasNoWire
    /// The in-process communicator re-throws the application's error (as asgiref's does) where a
    /// server answers 500 or cuts the connection.
    case communicatorRethrows
    /// The in-process communicator records `http.response.pathsend`'s path instead of reading the file.
    case communicatorRecordsPathsend

    /// Why the difference is the transport's.
    var reason: String {
        switch self {
        case .ports: return "ports belong to the transport"
        case .fastcgiParameters: return "nginx sends CGI variables HTTP has no place for"
        case .extensionsByCapability: return "each frontend announces what it can carry"
        case .cgiHeaderOrder: return "CGI keeps Content-Type/Length apart from the header list"
        case .nginxDropsUnderscoredHeaders: return "nginx drops header names with '_'"
        case .nginxAnswersMalformedRequests: return "nginx answers what it cannot parse with its own page"
        case .nginxCompletesCutResponses: return "nginx completes a response its backend cut"
        case .communicatorHasNoWire: return "the communicator has no wire to send a malformed request on"
        case .communicatorRethrows: return "the communicator re-throws what a server answers"
        case .communicatorRecordsPathsend: return "the communicator records pathsend's path"
        }
    }
}

/// The extensions each frontend announces (``TransportException/extensionsByCapability``).
func expectedExtensions(_ frontend: Frontend, _ kind: AppKind) -> String {
    switch (frontend, kind) {
    case (.fastcgi, .asgi): return "fastcgi,http.response.pathsend"
    case (.fastcgi, .wsgi): return "http.response.pathsend"
    case (.http, _): return "http.response.pathsend,http.response.trailers"
    case (.communicator, _): return "nil"
    }
}

/// A dump with the transport's differences taken out, each by its named exception
/// (``TransportException/ports``, ``TransportException/fastcgiParameters``,
/// ``TransportException/extensionsByCapability`` (checked apart), ``TransportException/cgiHeaderOrder``,
/// ``TransportException/nginxDropsUnderscoredHeaders``).
func normalized(_ dump: [String: String], _ frontend: Frontend, _ kind: AppKind) -> [String: String] {
    ConformanceTable.normalized(
        dump,
        dropping: frontend == .fastcgi ? ConformanceTable.fastcgiOnlyVariables : [],
        droppingUnderscoredHeaders: kind == .asgi
    )
}

@Suite("Conformance matrix: FastCGI behind nginx, the HTTP server and HTTPCommunicator agree", .serialized)
struct ConformanceMatrixTests {
    static let fileMiB = 64

    /// A file of `fileMiB` MiB of a pattern, written with plain write(2) calls.
    static func makeFile(in directory: TestDirectory) throws -> String {
        let path = directory.file("conformance.bin")
        let block = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try writeRepeated(block, times: fileMiB, to: path)
        return path
    }

    @Test("The whole environ and scope, every key, alike on every frontend and as the table says", arguments: AppKind.allCases)
    func scopesAgree(kind: AppKind) async throws {
        let table = try ConformanceTable.scopes()[kind.rawValue] ?? [:]
        let update = ProcessInfo.processInfo.environment["CONFORMANCE_UPDATE"] == "1"
        let dumps = try await withTestDirectory("conformance-file") { directory in
            let file = try Self.makeFile(in: directory)
            return try await withFrontends(kind, file: file, observations: Observations()) { frontends in
                var dumps: [String: [Frontend: [String: String]]] = [:]
                for probe in ConformanceTable.scopeProbes {
                    for frontend in Frontend.allCases {
                        let answer = try await frontends.send(probe, to: frontend)
                        #expect(
                            answer.status == 200,
                            "\(frontend) \(probe.name): \(answer.status) \(answer.error ?? String(decoding: answer.body.prefix(300), as: UTF8.self))"
                        )
                        let extensions = answer.json[kind == .asgi ? "extensions" : "asgi.scope.extensions"]
                        #expect(extensions == expectedExtensions(frontend, kind), "\(frontend) \(probe.name): extensions")
                        dumps[probe.name, default: [:]][frontend] = normalized(answer.json, frontend, kind)
                    }
                }
                return dumps
            }
        }
        var reference: [String: [String: String]] = [:]
        for probe in ConformanceTable.scopeProbes {
            let byFrontend = dumps[probe.name] ?? [:]
            let http = byFrontend[.http] ?? [:]
            reference[probe.name] = http
            for frontend in Frontend.allCases {
                let dump = byFrontend[frontend] ?? [:]
                let expected = update ? http : (table[probe.name] ?? [:])
                for key in Set(dump.keys).union(expected.keys).sorted() where dump[key] != expected[key] {
                    Issue.record(
                        "\(kind) \(frontend), \(probe.name), \(key): \(dump[key]?.debugDescription ?? "missing") but the table says \(expected[key]?.debugDescription ?? "missing")"
                    )
                }
            }
        }
        if update { try ConformanceTable.write(kind: kind.rawValue, reference) }
    }

    @Test("The answers to the edge-case table, alike on every frontend", arguments: AppKind.allCases)
    func answersAgree(kind: AppKind) async throws {
        let cases = try ConformanceTable.answers()
        try await withTestDirectory("conformance-file") { directory in
            let file = try Self.makeFile(in: directory)
            let fileBytes = try Data(contentsOf: URL(fileURLWithPath: file))
            try await withFrontends(kind, file: file, observations: Observations()) { frontends in
                for entry in cases {
                    for frontend in Frontend.allCases {
                        let answer = try await frontends.send(entry.probe, to: frontend)
                        let exception = Self.exception(for: entry, frontend, kind, answer)
                        let what = "\(kind) \(frontend), \(entry.name)"
                        if exception == .communicatorHasNoWire { continue }
                        if exception == .communicatorRethrows {
                            #expect(answer.error != nil, "\(what): the communicator should re-throw")
                            continue
                        }
                        if exception == .nginxAnswersMalformedRequests {
                            #expect(answer.status == entry.nginxStatus ?? entry.expect.status, "\(what): nginx's status \(answer.status)")
                            continue
                        }
                        #expect(answer.status == entry.expect.status, "\(what): status \(answer.status) \(answer.error ?? "")")
                        if let body = entry.expect.body {
                            #expect(String(decoding: answer.body, as: UTF8.self) == body, "\(what): body")
                        }
                        if let prefix = entry.expect.bodyPrefix {
                            #expect(String(decoding: answer.body, as: UTF8.self).hasPrefix(prefix), "\(what): body")
                        }
                        if let complete = entry.expect.complete, exception != .nginxCompletesCutResponses {
                            #expect(answer.complete == complete, "\(what): complete")
                        }
                        for (name, value) in entry.expect.headers ?? [:] where exception != .communicatorRecordsPathsend {
                            #expect(answer.header(name) == value, "\(what): \(name)")
                        }
                        for (key, value) in entry.expect.json?[kind.rawValue] ?? [:] {
                            #expect(answer.json[key] == value, "\(what): \(key)")
                        }
                        if entry.expect.file == true, exception != .communicatorRecordsPathsend {
                            #expect(answer.body.count == fileBytes.count && Data(answer.body) == fileBytes, "\(what): the file arrived whole")
                        }
                    }
                }
            }
        }
    }

    /// The named exception that applies to an answer, if any.
    static func exception(for entry: ConformanceTable.AnswerCase, _ frontend: Frontend, _ kind: AppKind, _ answer: Answer) -> TransportException? {
        switch frontend {
        case .communicator:
            if entry.wire == true { return .communicatorHasNoWire }
            if answer.error != nil { return .communicatorRethrows }
            if entry.expect.file == true, kind == .asgi { return .communicatorRecordsPathsend }
            return nil
        case .fastcgi:
            if entry.wire == true || entry.nginxStatus != nil { return .nginxAnswersMalformedRequests }
            if entry.expect.complete == false { return .nginxCompletesCutResponses }
            return nil
        case .http:
            return nil
        }
    }

    @Test("A client that leaves while a response streams: the application learns it, the next request is served", arguments: AppKind.allCases)
    func disconnectWhileStreaming(kind: AppKind) async throws {
        let observations = Observations()
        try await withFrontends(kind, file: "/dev/null", observations: observations) { frontends in
            for frontend in [Frontend.fastcgi, .http] {
                let before = observations.all.count
                let partial = try await frontends.send(ConformanceProbe(name: "stream", target: "/stream"), to: frontend, stopAfter: 20)
                #expect(partial.status == 200 && !partial.complete, "\(kind) \(frontend): a streaming response")
                try await eventually("\(kind) \(frontend): the application saw the client leave", timeout: .seconds(30)) {
                    observations.all.count > before
                }
                let seen = observations.all[before...]
                switch kind {
                case .asgi:
                    try await eventually("\(kind) \(frontend): the watcher's http.disconnect") {
                        observations.all[before...].contains("asgi saw http.disconnect")
                    }
                case .wsgi:
                    #expect(seen.contains("wsgi closed after a disconnect"), "\(frontend): \(seen)")
                }
                let next = try await frontends.send(ConformanceProbe(name: "after", target: "/hello"), to: frontend)
                #expect(next.status == 200 && String(decoding: next.body, as: UTF8.self) == "hello", "\(kind) \(frontend): the next request")
            }
        }
    }

    @Test("A failed lifespan startup stops every server before it serves, with the application's message")
    func startupFailureStopsEveryServer() async throws {
        let app = ASGIApp { scope, receive, send in
            guard case .lifespan = scope else { return }
            _ = try await receive()
            try await send(.lifespanStartupFailed(message: "the database is unreachable"))
        }
        try await withTestDirectory("conformance-startup") { directory in
            let fastcgi = FastCGIServer(
                application: app,
                configuration: FastCGIConfiguration(bind: .unix(path: directory.file("app.sock"))),
                logger: Logger(label: "conformance") { _ in SwiftLogNoOpLogHandler() }
            )
            do {
                try await fastcgi.run()
                Issue.record("FastCGIServer.run() returned after a failed startup")
            } catch let error as FastCGIError {
                #expect(error.code == .lifespanStartupFailed && error.message == "Application startup failed: the database is unreachable")
            }
        }
        let http = ASGIHTTPServer(
            application: app,
            configuration: HTTPServerConfiguration(port: 0, accessLog: false),
            logger: Logger(label: "conformance") { _ in SwiftLogNoOpLogHandler() }
        )
        do {
            try await http.run()
            Issue.record("ASGIHTTPServer.run() returned after a failed startup")
        } catch let error as HTTPServerError {
            #expect(error.code == .lifespanStartupFailed && error.message == "Application startup failed: the database is unreachable")
        }
    }
}
