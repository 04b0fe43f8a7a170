@_spi(ASGIFrontend) import ASGI
import ASGIFastCGI
import Foundation
import Glibc
import TestSupport
import Testing

/// nginx with `fastcgi_keep_conn on` and an upstream `keepalive` (the recommended deployment):
/// connections are kept across requests whatever the application does with its body, and a
/// failing application or a vanishing client costs one connection, never the next request.
@Suite("FastCGI kept connections (fastcgi_keep_conn + upstream keepalive)")
struct KeptConnectionTests {
    /// A page larger than libfcgi's 8 KiB output buffer, the same bytes every time.
    static let page: [UInt8] = Array(repeating: Array("<p>a kept connection serves this page again</p>\n".utf8), count: 400).flatMap { $0 }

    /// Answers `page` without reading its (empty) body, as most GET handlers do.
    static let pageWSGI = WSGIApp { _, startResponse in
        _ = try startResponse("200 OK", [("Content-Type", "text/html"), ("Content-Length", String(page.count))], nil)
        return [page]
    }

    /// Answers `page`; a path ending in `/slow` first waits for `gate` to open.
    static func pageHeldAtSlow(by gate: Gate) -> WSGIApp {
        WSGIApp { environ, startResponse in
            if (environ["PATH_INFO"] ?? environ["REQUEST_URI"] ?? "").hasSuffix("/slow") {
                _ = gate.waitBlocking()
            }
            _ = try startResponse("200 OK", [("Content-Type", "text/html")], nil)
            return [page]
        }
    }

    /// The same page from an ASGI application that never calls `receive()`.
    static let pageASGI = ASGIApp { _, _, send in
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/html"), ("content-length", String(page.count))]))
        try await send(.httpResponseBody(body: page))
    }

    @Test("Sequential requests that do not read their body all go over one kept connection", arguments: ["wsgi", "asgi"])
    func sequentialRequestsShareOneConnection(kind: String) async throws {
        try await withNginxAndServer(
            "kept-seq-\(kind)",
            wsgi: Self.pageWSGI,
            asgi: kind == "asgi" ? Self.pageASGI : nil
        ) { nginx, server, directory in
            let before = server.status.acceptedConnections
            for index in 0..<20 {
                let response = try await curl("\(nginx.url)/keep/page?\(index)", in: directory)
                #expect(response.status == 200)
                #expect(response.body == Self.page)
            }
            #expect(server.status.acceptedConnections - before == 1)
        }
    }

    @Test(
        "Concurrent clients over kept connections, more connections than worker threads: every request is served",
        arguments: [2, 6]
    )
    func concurrentClients(workerThreads: Int) async throws {
        let configure: (inout FastCGIConfiguration) -> Void = { $0.workerThreads = workerThreads }
        try await withNginxAndServer("kept-conc-\(workerThreads)", wsgi: Self.pageWSGI, configure: configure) { nginx, server, directory in
            // nginx's backend_pool keeps 4 idle connections; 8 clients at once need more: the
            // extra connections are accepted while the kept ones wait for their next request.
            let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                for client in 0..<8 {
                    group.addTask {
                        var statuses: [Int] = []
                        for index in 0..<4 {
                            let response = try await curl("\(nginx.url)/keep/page?\(client)-\(index)", in: directory)
                            statuses.append(response.body == Self.page ? response.status : -response.status)
                        }
                        return statuses
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(statuses.count == 32)
            #expect(statuses.allSatisfy { $0 == 200 })
            let next = try await curl("\(nginx.url)/keep/after", in: directory)
            #expect(next.status == 200)
            #expect(server.status.acceptedRequests >= 33)
        }
    }

    @Test("One worker: after a kept connection's request the worker serves a new connection, and the kept one stays open")
    func newConnectionWhileAKeptOneIsIdle() async throws {
        let configure: (inout FastCGIConfiguration) -> Void = { $0.workerThreads = 1 }
        try await withNginxAndServer("kept-idle-new", wsgi: Self.pageWSGI, configure: configure) { nginx, server, directory in
            let before = server.status.acceptedConnections
            #expect(try await curl("\(nginx.url)/keep/first", in: directory).status == 200)
            // A location without fastcgi_keep_conn: a new connection, which only the one worker
            // can serve while the kept connection is idle.
            let plain = try await curl("\(nginx.url)/plain", in: directory)
            #expect(plain.status == 200)
            #expect(plain.body == Self.page)
            // The kept connection was not closed for it: this request reuses it.
            #expect(try await curl("\(nginx.url)/keep/again", in: directory).status == 200)
            #expect(server.status.acceptedConnections - before == 2)
        }
    }

    @Test("Idle kept connections hold no worker: one worker keeps two connections open and serves both")
    func moreKeptConnectionsThanWorkers() async throws {
        let gate = Gate()
        let app = Self.pageHeldAtSlow(by: gate)
        let configure: (inout FastCGIConfiguration) -> Void = { $0.workerThreads = 1 }
        try await withNginxAndServer("kept-two", wsgi: app, configure: configure) { nginx, server, directory in
            try await onFailure({ gate.open() }) {
                let before = server.status.acceptedConnections
                // The worker is busy on one kept connection, so nginx opens a second for the next.
                async let slow = curl("\(nginx.url)/keep/slow", in: directory)
                try await eventually("the slow request reached the application") { gate.arrivals == 1 }
                async let next = curl("\(nginx.url)/keep/next", in: directory)
                try await eventually("the second connection waits to be accepted") { (server.status.listenQueue ?? 0) >= 1 }
                gate.open()
                #expect(try await slow.status == 200)
                #expect(try await next.status == 200)
                try await eventually("both connections idle and kept") { server.status.keptConnections == 2 }
                #expect(server.status.acceptedConnections - before == 2)
                for index in 0..<6 {
                    let response = try await curl("\(nginx.url)/keep/page?\(index)", in: directory)
                    #expect(response.status == 200)
                    #expect(response.body == Self.page)
                }
                #expect(server.status.acceptedConnections - before == 2)
            }
        }
    }

    @Test("While one worker is busy, the other serves a new connection and the idle kept connection stays open")
    func keptConnectionStaysOpenWhileAnotherWorkerServes() async throws {
        let gate = Gate()
        let app = Self.pageHeldAtSlow(by: gate)
        let configure: (inout FastCGIConfiguration) -> Void = { $0.workerThreads = 2 }
        try await withNginxAndServer("kept-hold", wsgi: app, configure: configure) { nginx, server, directory in
            try await onFailure({ gate.open() }) {
                let before = server.status.acceptedConnections
                #expect(try await curl("\(nginx.url)/keep/first", in: directory).status == 200)
                // One worker is busy with a slow request; the other, not held by the idle kept
                // connection, serves a new connection meanwhile.
                async let slow = curl("\(nginx.url)/plain/slow", in: directory)
                try await eventually("the slow request reached the application") { gate.arrivals == 1 }
                let waiting = try await curl("\(nginx.url)/plain/next", in: directory)
                #expect(waiting.status == 200)
                #expect(server.status.acceptedConnections - before == 3)
                #expect(server.status.keptConnections == 1)
                gate.open()
                #expect(try await slow.status == 200)
                // The kept connection was not closed for the others: this request reuses it.
                #expect(try await curl("\(nginx.url)/keep/again", in: directory).status == 200)
                #expect(server.status.acceptedConnections - before == 3)
            }
        }
    }

    @Test("After an application that fails (500, and a response cut midway) the next request over kept connections is served")
    func failingApplication() async throws {
        let app = WSGIApp { environ, startResponse in
            switch environ["PATH_INFO"] ?? environ["REQUEST_URI"] ?? "" {
            case let path where path.hasSuffix("/fail"):
                throw TestFailure("the application fails before its response")
            case let path where path.hasSuffix("/cut"):
                let write = try startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")], nil)
                try write(Array("partial".utf8))
                throw TestFailure("the application fails after its response started")
            default:
                _ = try startResponse("200 OK", [("Content-Type", "text/html")], nil)
                return [Self.page]
            }
        }
        try await withNginxAndServer("kept-fail", wsgi: app) { nginx, server, directory in
            let first = try await curl("\(nginx.url)/keep/page", in: directory)
            #expect(first.status == 200)
            let failed = try await curl("\(nginx.url)/keep/fail", in: directory)
            #expect(failed.status == 500)
            let afterFailure = try await curl("\(nginx.url)/keep/page", in: directory)
            #expect(afterFailure.status == 200)
            #expect(afterFailure.body == Self.page)

            // The cut response: the client sees the transfer end short of its Content-Length.
            let cut = try ChildProcess(
                curlExecutable,
                ["-sS", "--max-time", "30", "-o", directory.file("cut.body"), "\(nginx.url)/keep/cut"],
                stdoutPath: directory.file("cut.out"),
                stderrPath: directory.file("cut.err")
            )
            let cutExit = try await cut.wait(timeout: .seconds(40))
            #expect(cutExit != 0)
            for index in 0..<5 {
                let response = try await curl("\(nginx.url)/keep/page?after-cut-\(index)", in: directory)
                #expect(response.status == 200)
                #expect(response.body == Self.page)
            }
            try await eventually("every worker free") { server.status.activeWorkers == 0 }
        }
    }

    @Test("A client that vanishes while its request is served: the next request over kept connections is served")
    func vanishingClient() async throws {
        let gate = Gate()
        let app = Self.pageHeldAtSlow(by: gate)
        try await withNginxAndServer("kept-vanish", wsgi: app) { nginx, server, directory in
            try await onFailure({ gate.open() }) {
                #expect(try await curl("\(nginx.url)/keep/page", in: directory).status == 200)
                let socket = try connectToLoopback(port: nginx.port, timeout: .seconds(30))
                let request = Array("GET /keep/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
                #expect(request.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == request.count)
                try await eventually("the slow request reached the application") { gate.arrivals == 1 }
                close(socket)
                gate.open()
                try await eventually("every worker free") { server.status.activeWorkers == 0 }
                for index in 0..<5 {
                    let response = try await curl("\(nginx.url)/keep/page?after-vanish-\(index)", in: directory)
                    #expect(response.status == 200)
                    #expect(response.body == Self.page)
                }
            }
        }
    }
}
