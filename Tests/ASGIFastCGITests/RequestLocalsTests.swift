@_spi(ASGIFrontend) import ASGI
import ASGIFastCGI
import AsyncBridge
import Foundation
import TestSupport
import Testing

/// What a request sets in a `Local` stays with that request: the next one on the same worker
/// thread starts without it, as under the HTTP server (which opens a scope per request).
@Suite("Request-scoped Locals over FastCGI")
struct RequestLocalsTests {
    /// The kinds of application a FastCGI worker serves.
    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        /// A WSGI-style application served directly.
        case wsgi
        /// An ASGI application (through `ASGIToWSGI`).
        case asgi
        /// A WSGI-style application mounted in an ASGI one (`WSGIMount`, served directly).
        case mount

        var testDescription: String { rawValue }
    }

    static let user = Local<String>()

    /// Answers with the user the request found already set (`-` for none), then sets its own
    /// from the query string, without a scope of its own (as legacy code does).
    static let legacy = WSGIApp { environ, startResponse in
        let found = user.value ?? "-"
        try user.set(environ["QUERY_STRING"] ?? "")
        _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
        return [Array(found.utf8)]
    }

    static let async = ASGIApp { scope, _, send in
        guard case .http(let http) = scope else { return }
        let found = user.value ?? "-"
        try user.set(String(decoding: http.queryString, as: UTF8.self))
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
        try await send(.httpResponseBody(body: Array(found.utf8)))
    }

    @Test("A Local one request sets is not seen by the next on the same worker thread", arguments: Kind.allCases)
    func localsDoNotLeakIntoTheNextRequest(kind: Kind) async throws {
        let configure: (inout FastCGIConfiguration) -> Void = { $0.workerThreads = 1 }
        let path = kind == .mount ? "/legacy/page" : "/page"
        let run: @Sendable (Nginx, FastCGIServer, TestDirectory) async throws -> Void = { nginx, _, directory in
            let first = try await curl("\(nginx.url)\(path)?ada", in: directory)
            let second = try await curl("\(nginx.url)\(path)?grace", in: directory)
            #expect(first.text == "-")
            #expect(second.text == "-", "the first request's value reached the second")
        }
        switch kind {
        case .wsgi:
            try await withNginxAndServer("locals-wsgi", wsgi: Self.legacy, configure: configure, run)
        case .asgi:
            try await withNginxAndServer("locals-asgi", asgi: Self.async, configure: configure, run)
        case .mount:
            try await withNginxAndServer(
                "locals-mount",
                asgi: WSGIMount("/legacy", WSGIToASGI(Self.legacy), in: Self.async),
                configure: configure,
                run
            )
        }
    }
}
