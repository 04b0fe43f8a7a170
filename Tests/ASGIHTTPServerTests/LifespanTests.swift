import ASGI
import ASGIHTTPServer
import InMemoryLogging
import Logging
import TestSupport
import Testing

/// The lifespan scope around serving.
@Suite(.timeLimit(.minutes(1)))
struct LifespanTests {
    @Test("A failed startup stops the server: run() throws with the application's message")
    func startupFailure() async throws {
        let app = ASGIApp { scope, receive, send in
            guard case .lifespan = scope else { return }
            if case .lifespanStartup = try await receive() {
                try await send(.lifespanStartupFailed(message: "database unreachable"))
            }
        }
        let server = ASGIHTTPServer(application: app, configuration: testConfiguration(), logger: memoryLogger())
        let error = await #expect(throws: HTTPServerError.self) {
            try await server.run()
        }
        #expect(error?.code == .lifespanStartupFailed)
        #expect(error?.message.contains("database unreachable") == true)
        #expect(server.listeningAddress == nil)
    }

    @Test("Startup state is copied into request scopes; shutdown runs after serving")
    func stateAndShutdown() async throws {
        let events = Reports<String>()
        let app = ASGIApp { scope, receive, send in
            switch scope {
            case .lifespan(let lifespan):
                while true {
                    switch try await receive() {
                    case .lifespanStartup:
                        lifespan.state["greeting"] = "hello from startup"
                        try await send(.lifespanStartupComplete)
                    case .lifespanShutdown:
                        events.report("shutdown")
                        try await send(.lifespanShutdownComplete)
                        return
                    default:
                        continue
                    }
                }
            case .http(let http):
                try await respond(send, http.state?["greeting"] as? String ?? "no state")
            case .websocket:
                return
            }
        }
        let result = try await withServer(app) { server in
            try await curl(["\(server.url)/"])
        }
        #expect(result.stdout == "hello from startup")
        #expect(try await events.next() == "shutdown")
    }

    @Test("An application that raises on the lifespan scope is served without lifespan (mode auto)")
    func unsupportedLifespan() async throws {
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
            try await respond(send, http.state == nil ? "no state" : "state")
        }
        let handler = InMemoryLogHandler()
        let result = try await withServer(app, logger: memoryLogger(handler)) { server in
            try await curl(["\(server.url)/"])
        }
        #expect(result.stdout == "no state")
        #expect(handler.entries.contains { "\($0.message)".contains("appears unsupported") })
    }

    @Test("With lifespan on, an application that raises on the lifespan scope stops the server")
    func lifespanOnFailure() async throws {
        let app = ASGIApp { scope, _, _ in throw ASGIProtocolError.unsupportedScope(scope.type) }
        let configuration = testConfiguration { $0.lifespan = .on }
        let server = ASGIHTTPServer(application: app, configuration: configuration, logger: memoryLogger())
        let error = await #expect(throws: HTTPServerError.self) {
            try await server.run()
        }
        #expect(error?.code == .lifespanFailed)
    }
}
