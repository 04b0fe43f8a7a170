@_spi(ASGIFrontend) import ASGI
import ASGIFastCGI
import Foundation
import Glibc
import Logging
import ServiceLifecycle
import TestSupport
import Testing

@Suite("FastCGI shutdown on its own socket")
struct ShutdownDrainTests {
    /// A graceful stop while requests wait in the listen queue of the server's own socket (no
    /// supervisor; the one worker thread busy): the web server sent them and waits for them, so
    /// they are accepted and answered rather than reset when the socket closes.
    @Test("A graceful stop answers the requests queued on the server's own socket")
    func gracefulStopServesTheQueuedRequests() async throws {
        let gate = Gate()
        defer { gate.open() }
        let app = WSGIApp { environ, startResponse in
            if environ["REQUEST_URI"] == "/wait" { gate.waitBlocking() }
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return [Array("hello".utf8)]
        }
        let logs = CapturedLogs()
        try await withTestDirectory("own-drain") { directory in
            let path = directory.file("app.sock")
            let server = FastCGIServer(
                application: app,
                configuration: FastCGIConfiguration(bind: .unix(path: path, mode: 0o600), workerThreads: 1),
                logger: logs.logger
            )
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: server)],
                    logger: Logger(label: "drain-test-group") { _ in SwiftLogNoOpLogHandler() }
                )
            )
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await onFailure({
                    gate.open()
                    await group.triggerGracefulShutdown()
                }) {
                    try await waitUntilListening(.unix(path: path, mode: 0o600))
                    let request = { @Sendable (uri: String) in
                        FastCGIWire.request(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", uri), ("SERVER_PROTOCOL", "HTTP/1.1")])
                    }
                    let queuedSent = Shared(false)
                    async let replies = offPool { () -> [String] in
                        let deadline = ContinuousClock.now + .seconds(60)
                        // The one worker waits at the gate...
                        let first = try RawConnection(unixPath: path)
                        first.send(request("/wait"))
                        while gate.arrivals < 1 {
                            guard ContinuousClock.now < deadline else { throw TestFailure("the first request never reached the gate") }
                            usleep(5_000)
                        }
                        // ...while two more requests wait in the socket's queue.
                        let queued = try (0..<2).map { _ in try RawConnection(unixPath: path) }
                        for connection in queued { connection.send(request("/")) }
                        queuedSent.update { $0 = true }
                        while !logs.contains("FastCGI server stopping") {
                            guard ContinuousClock.now < deadline else { throw TestFailure("the server did not start stopping") }
                            usleep(5_000)
                        }
                        gate.open()
                        return ([first] + queued).map { String(decoding: $0.readResponse().stdout, as: UTF8.self) }
                    }
                    try await eventually("the queued requests sent") { queuedSent.current }
                    await group.triggerGracefulShutdown()
                    let answers = try await replies
                    #expect(answers.count == 3)
                    #expect(answers.allSatisfy { $0.hasPrefix("Status: 200 OK") && $0.hasSuffix("hello") }, "\(answers)")
                    while try await tasks.next() != nil {}
                    #expect(server.status.acceptedConnections >= 4)
                    // The socket file is gone: no new connection gets in.
                    #expect(!FileManager.default.fileExists(atPath: path))
                }
            }
        }
    }

    /// With nothing queued, a graceful stop ends at once (no worker waits in accept()).
    @Test("A graceful stop with an empty queue returns promptly with idle workers")
    func gracefulStopWithAnEmptyQueue() async throws {
        try await withTestDirectory("own-drain-empty") { directory in
            let path = directory.file("app.sock")
            let server = FastCGIServer(
                application: TestApps.echoWSGI,
                configuration: FastCGIConfiguration(bind: .unix(path: path, mode: 0o600), workerThreads: 3),
                logger: CapturedLogs().logger
            )
            try await withServer(server) { _ in
                let answer = try await offPool { () -> String in
                    let connection = try RawConnection(unixPath: path)
                    connection.send(FastCGIWire.request(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")]))
                    return String(decoding: connection.readResponse().stdout, as: UTF8.self)
                }
                #expect(answer.hasPrefix("Status: 200 OK"))
            }
            #expect(server.status.activeWorkers == 0)
        }
    }
}
