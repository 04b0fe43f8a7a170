import ASGI
import ASGIFastCGI
import Foundation
import Logging
import TestSupport
import Testing

/// An ASGI application whose lifespan fills `state` and records, in order, what happened, and
/// whether the socket accepted connections when startup ran.
final class LifespanProbe: Sendable {
    let events = Shared<[String]>([])
    let socketPath: String
    let failStartup: String?

    init(socketPath: String, failStartup: String? = nil) {
        self.socketPath = socketPath
        self.failStartup = failStartup
    }

    var application: ASGIApp {
        ASGIApp { [self] scope, receive, send in
            switch scope {
            case .lifespan(let lifespan):
                while true {
                    switch try await receive() {
                    case .lifespanStartup:
                        events.update { $0.append("startup (listening: \(canConnect(unixPath: socketPath)))") }
                        if let failStartup {
                            try await send(.lifespanStartupFailed(message: failStartup))
                            return
                        }
                        lifespan.state["pool"] = "db-pool-1"
                        try await send(.lifespanStartupComplete)
                    case .lifespanShutdown:
                        events.update { $0.append("shutdown") }
                        try await send(.lifespanShutdownComplete)
                        return
                    default:
                        continue
                    }
                }
            case .http(let http):
                events.update { $0.append("request \(http.path)") }
                let pool = http.state?["pool"] as? String ?? "none"
                try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
                try await send(.httpResponseBody(body: Array("pool=\(pool)".utf8)))
            case .websocket:
                throw ASGIProtocolError.unsupportedScope(scope.type)
            }
        }
    }
}

@Suite("Lifespan over FastCGI")
struct FastCGILifespanTests {
    @Test("An ASGI application's startup runs before the first accept, its state reaches every request scope, shutdown after the last request")
    func asgiLifespan() async throws {
        try await withTestDirectory("lifespan-asgi") { directory in
            let socketPath = directory.file("app.sock")
            let probe = LifespanProbe(socketPath: socketPath)
            let server = FastCGIServer(
                application: probe.application,
                configuration: FastCGIConfiguration(bind: .unix(path: socketPath), workerThreads: 2),
                logger: CapturedLogs().logger
            )
            try await withServer(server) { _ in
                let nginx = try await Nginx.start(in: directory, backend: "unix:\(socketPath)", locations: standardLocations)
                let response = try await curl("\(nginx.url)/app/one", in: directory)
                await nginx.stop()
                #expect(response.text == "pool=db-pool-1")
            }
            #expect(probe.events.current == ["startup (listening: false)", "request /app/one", "shutdown"])
        }
    }

    @Test("A failed startup stops the server before it listens: run() throws with the application's message")
    func asgiStartupFailure() async throws {
        try await withTestDirectory("lifespan-fail") { directory in
            let socketPath = directory.file("app.sock")
            let probe = LifespanProbe(socketPath: socketPath, failStartup: "no database at db:5432")
            let server = FastCGIServer(
                application: probe.application,
                configuration: FastCGIConfiguration(bind: .unix(path: socketPath), workerThreads: 2),
                logger: CapturedLogs().logger
            )
            do {
                try await server.run()
                Issue.record("run() returned after a failed startup")
            } catch let error as FastCGIError {
                #expect(error.code == .lifespanStartupFailed)
                #expect(error.message.contains("no database at db:5432"))
            }
            #expect(!FileManager.default.fileExists(atPath: socketPath))
            #expect(probe.events.current == ["startup (listening: false)"])
        }
    }

    @Test("A WSGI-style application's lifespan hooks run around serving; a failing startup hook stops the server with its message")
    func wsgiLifespanHooks() async throws {
        let events = Shared<[String]>([])
        let app = WSGIApp { _, startResponse in
            events.update { $0.append("request") }
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return [Array("ok".utf8)]
        }
        try await withTestDirectory("lifespan-wsgi") { directory in
            let socketPath = directory.file("app.sock")
            let hooks = WSGILifespan(
                startup: { events.update { $0.append("startup") } },
                shutdown: { events.update { $0.append("shutdown") } }
            )
            let server = FastCGIServer(
                application: app,
                lifespan: hooks,
                configuration: FastCGIConfiguration(bind: .unix(path: socketPath), workerThreads: 2),
                logger: CapturedLogs().logger
            )
            try await withServer(server) { _ in
                let nginx = try await Nginx.start(in: directory, backend: "unix:\(socketPath)", locations: standardLocations)
                let response = try await curl("\(nginx.url)/app/", in: directory)
                await nginx.stop()
                #expect(response.text == "ok")
            }
            #expect(events.current == ["startup", "request", "shutdown"])

            struct PoolDown: Error, CustomStringConvertible { var description: String { "the pool is down" } }
            let failing = FastCGIServer(
                application: app,
                lifespan: WSGILifespan(startup: { throw PoolDown() }),
                configuration: FastCGIConfiguration(bind: .unix(path: socketPath), workerThreads: 2),
                logger: CapturedLogs().logger
            )
            do {
                try await failing.run()
                Issue.record("run() returned after a failed startup hook")
            } catch let error as FastCGIError {
                #expect(error.code == .lifespanStartupFailed)
                #expect(error.message.contains("the pool is down"))
            }
        }
    }
}
