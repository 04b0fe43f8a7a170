import ASGI
import ASGIFastCGI
import Foundation
import Glibc
import Logging
import ServiceLifecycle
import TestSupport
import Testing

@Suite("FastCGI lifecycle: aborts, timeouts, shutdown, sockets")
struct LifecycleTests {
    @Test("Client abort: the WSGI application's next write fails, close() is called, the worker is freed")
    func clientAbortWSGI() async throws {
        let closed = Shared(false)
        let chunks = Shared(0)
        let app = WSGIApp { environ, startResponse in
            guard environ["PATH_INFO"] == "/stream/forever" else { return try TestApps.echoWSGI(environ, startResponse) }
            _ = try startResponse("200 OK", [("Content-Type", "application/octet-stream")], nil)
            let chunk = [UInt8](repeating: 0x78, count: 16 * 1024)
            return WSGIClosureBody(
                next: {
                    chunks.update { $0 += 1 }
                    return chunk  // forever, until the client goes away
                },
                close: { closed.update { $0 = true } }
            )
        }
        try await withNginxAndServer("abort-wsgi", wsgi: app) { nginx, server, directory in
            let output = directory.file("abort.out")
            let client = try ChildProcess(
                curlExecutable,
                ["-sN", "-o", output, "\(nginx.url)/stream/forever"],
                stdoutPath: directory.file("abort.stdout"),
                stderrPath: directory.file("abort.stderr")
            )
            try await onFailure({ await client.stop(signal: SIGKILL) }) {
                try await eventually("bytes at the client") {
                    ((try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0) > 0
                }
                #expect(server.status.activeWorkers == 1)
                client.signal(SIGKILL)
                _ = try await client.wait()
                try await eventually("the worker freed") { server.status.activeWorkers == 0 && closed.current }
                #expect(server.status.abortedRequests == 1)
                #expect(server.status.idleWorkers == 4)
                // The worker serves again.
                #expect(try await curl("\(nginx.url)/after", in: directory).status == 200)
            }
        }
    }

    @Test("Client abort: an ASGI application waiting in receive() gets http.disconnect")
    func clientAbortASGI() async throws {
        let sawDisconnect = Shared(false)
        let app = ASGIApp { _, receive, send in
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/event-stream")]))
            try await send(.httpResponseBody(body: Array("data: hello\n\n".utf8), moreBody: true))
            while true {
                if case .httpDisconnect = try await receive() {
                    sawDisconnect.update { $0 = true }
                    return
                }
            }
        }
        try await withNginxAndServer("abort-asgi", asgi: app) { nginx, server, directory in
            let output = directory.file("abort.out")
            let client = try ChildProcess(
                curlExecutable,
                ["-sN", "-o", output, "\(nginx.url)/stream/listen"],
                stdoutPath: directory.file("abort.stdout"),
                stderrPath: directory.file("abort.stderr")
            )
            try await onFailure({ await client.stop(signal: SIGKILL) }) {
                try await eventually("the first event at the client") {
                    (try? String(contentsOfFile: output, encoding: .utf8)) == "data: hello\n\n"
                }
                #expect(server.status.activeWorkers == 1)
                client.signal(SIGKILL)
                _ = try await client.wait()
                try await eventually("http.disconnect delivered and the worker freed") {
                    sawDisconnect.current && server.status.activeWorkers == 0
                }
            }
        }
    }

    @Test("Graceful shutdown mid-request: no new connections, the request in flight completes, run() returns")
    func gracefulShutdownInProcess() async throws {
        let gate = Gate()
        let app = WSGIApp { _, startResponse in
            gate.waitBlocking()
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return [Array("done".utf8)]
        }
        let logs = CapturedLogs()
        try await withTestDirectory("graceful") { directory in
            let socketPath = directory.file("app.sock")
            let server = FastCGIServer(
                application: app,
                configuration: FastCGIConfiguration(bind: .unix(path: socketPath), workerThreads: 2),
                logger: logs.logger
            )
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: server)], logger: Logger(label: "group") { _ in SwiftLogNoOpLogHandler() })
            )
            let running = Task { try await group.run() }
            try await waitUntilListening(server.configuration.bind)
            let nginx = try await onFailure({
                await group.triggerGracefulShutdown()
                _ = try? await running.value
            }) {
                try await Nginx.start(in: directory, backend: "unix:\(socketPath)", locations: standardLocations)
            }
            let output = directory.file("slow.out")
            let client = try ChildProcess(
                curlExecutable,
                ["-s", "-o", output, "-w", "%{http_code}", "\(nginx.url)/slow"],
                stdoutPath: directory.file("slow.status"),
                stderrPath: directory.file("slow.stderr")
            )
            try await onFailure({
                gate.open()
                await client.stop(signal: SIGKILL)
                await nginx.stop()
                await group.triggerGracefulShutdown()
                _ = try? await running.value
            }) {
                try await eventually("the request in flight") { gate.arrivals == 1 && server.status.activeWorkers == 1 }

                await group.triggerGracefulShutdown()
                try await eventually("no new connections") {
                    !FileManager.default.fileExists(atPath: socketPath) && !canConnect(unixPath: socketPath)
                }
                let refused = try await curl("\(nginx.url)/new", in: directory)
                #expect(refused.status == 502)
                #expect(server.status.activeWorkers == 1)

                gate.open()
                #expect(try await client.wait() == 0)
                #expect(client.standardOutput == "200")
                #expect(try String(contentsOfFile: output, encoding: .utf8) == "done")
                try await running.value
                await nginx.stop()
                #expect(logs.contains("FastCGI server stopping"))
                #expect(logs.contains("FastCGI server stopped."))
            }
        }
    }

    @Test("SIGTERM mid-request: the backend process finishes the request and exits 0")
    func sigtermMidRequest() async throws {
        let executable = try builtExecutable("FastCGIHello")
        try await withTestDirectory("sigterm") { directory in
            let socketPath = directory.file("app.sock")
            let backend = try ChildProcess(
                executable,
                ["--fastcgi", "unix:\(socketPath)", "--threads", "2", "--workers", "0", "--status", "/status"],
                stdoutPath: directory.file("backend.out"),
                stderrPath: directory.file("backend.err")
            )
            do {
                try await eventually("backend listening") {
                    if backend.poll() != nil { throw TestFailure("backend exited: \(backend.standardError)") }
                    return FileManager.default.fileExists(atPath: socketPath)
                }
                let nginx = try await Nginx.start(in: directory, backend: "unix:\(socketPath)", locations: standardLocations)
                try await onFailure({ await nginx.stop() }) {
                    // An upload whose second half the test holds back: the request stays in flight.
                    let output = directory.file("upload.out")
                    let client = try ChildProcess(
                        curlExecutable,
                        [
                            "-s", "-o", output, "-w", "%{http_code}", "-T", "-", "-X", "POST", "-H", "Content-Length: 10",
                            "-H", "Transfer-Encoding:", "-H", "Expect:", "\(nginx.url)/upload/upload",
                        ],
                        stdin: .pipe,
                        stdoutPath: directory.file("upload.status"),
                        stderrPath: directory.file("upload.stderr")
                    )
                    try await onFailure({ await client.stop(signal: SIGKILL) }) {
                        try client.writeStdin(Array("abcde".utf8))
                        try await eventually("the upload in flight") {
                            let status = try await curl("\(nginx.url)/status?json", in: directory).json
                            return status["requests_in_flight"] as? Int == 1  // the upload (status requests are not counted)
                        }
                        backend.signal(SIGTERM)
                        try await eventually("the backend stopped accepting") { !FileManager.default.fileExists(atPath: socketPath) }
                        try client.writeStdin(Array("fghij".utf8))
                        client.closeStdin()
                        #expect(try await client.wait() == 0)
                        #expect(client.standardOutput == "200")
                        #expect(
                            try String(contentsOfFile: output, encoding: .utf8) == "received 10 bytes\n",
                            "\(client.standardError) \(nginx.errorLog.suffix(800))"
                        )
                        #expect(try await backend.wait() == 0)
                        #expect(backend.standardError.contains("FastCGI server stopped."))
                    }
                }
                await nginx.stop()
            } catch {
                await backend.stop(signal: SIGKILL)
                throw error
            }
        }
    }

    @Test("Request timeout: 504 and a log line; the worker is free once the handler returns")
    func requestTimeout() async throws {
        let gate = Gate()
        let wroteLate = Shared<String?>(nil)
        let app = WSGIApp { _, startResponse in
            gate.waitBlocking()
            do {
                let write = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
                try write(Array("late".utf8))
                wroteLate.update { $0 = "written" }
            } catch {
                wroteLate.update { $0 = String(describing: error) }
                throw error
            }
            return [[UInt8]]()
        }
        let logs = CapturedLogs()
        let configure: (inout FastCGIConfiguration) -> Void = { $0.requestTimeout = .milliseconds(300) }
        try await withNginxAndServer("timeout", wsgi: app, logs: logs, configure: configure) { nginx, server, directory in
            try await onFailure({ gate.open() }) {
                let response = try await curl("\(nginx.url)/slow", in: directory)
                #expect(response.status == 504)
                #expect(response.text.contains("did not answer within 0.3 seconds"))
                // The 504 may reach the client before the watchdog's log line is written.
                try await eventually("the timeout logged") { logs.contains("Request timed out after 0.3 s: GET /slow") }
                #expect(server.status.activeWorkers == 1)
                gate.open()
                try await eventually("the worker freed") { server.status.activeWorkers == 0 }
                #expect(wroteLate.current?.contains("timeout") == true)
                #expect(server.status.timedOutRequests == 1)
                #expect(try await curl("\(nginx.url)/next", in: directory).status == 200)
            }
        }
    }

    @Test("Slow requests are logged while they run and counted")
    func slowRequestLog() async throws {
        let gate = Gate()
        let app = WSGIApp { _, startResponse in
            gate.waitBlocking()
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return [Array("ok".utf8)]
        }
        let logs = CapturedLogs()
        let configure: (inout FastCGIConfiguration) -> Void = { $0.slowRequestThreshold = .milliseconds(200) }
        try await withNginxAndServer("slow", wsgi: app, logs: logs, configure: configure) { nginx, server, directory in
            let client = try ChildProcess(
                curlExecutable,
                ["-s", "\(nginx.url)/report?id=7"],
                stdoutPath: directory.file("slow.out"),
                stderrPath: directory.file("slow.err")
            )
            try await onFailure({
                gate.open()
                await client.stop(signal: SIGKILL)
            }) {
                try await eventually("the slow-request log line") { logs.contains("Slow request: GET /report?id=7 has run for") }
                #expect(server.status.slowRequests == 1)
                gate.open()
                #expect(try await client.wait() == 0)
                #expect(client.standardOutput == "ok")
                try await eventually("the access log line") { logs.contains("\"GET /report?id=7 HTTP/1.1\" 200 2") }
            }
        }
    }

    @Test("Unix socket: mode applied, stale file replaced, live socket and non-socket refused, removed on stop")
    func unixSocketBinding() async throws {
        try await withTestDirectory("bind") { directory in
            let path = directory.file("app.sock")
            // A stale socket file: bound, then its owner went away without removing it.
            let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: Array(path.utf8))
                raw[path.utf8.count] = 0
            }
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0)
            close(stale)
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(!canConnect(unixPath: path))

            let first = FastCGIServer(
                application: TestApps.echoWSGI,
                configuration: FastCGIConfiguration(bind: .unix(path: path, mode: 0o600), workerThreads: 1),
                logger: CapturedLogs().logger
            )
            try await withServer(first) { _ in
                #expect(canConnect(unixPath: path))
                var info = stat()
                #expect(lstat(path, &info) == 0)
                #expect(info.st_mode & 0o777 == 0o600)
                // A second server on the same path: refused, the first keeps its socket.
                let second = FastCGIServer(
                    application: TestApps.echoWSGI,
                    configuration: FastCGIConfiguration(bind: .unix(path: path), workerThreads: 1),
                    logger: CapturedLogs().logger
                )
                await #expect(throws: FastCGIError(.addressInUse, "")) { try await second.run() }
                #expect(canConnect(unixPath: path))
                // run() twice is refused too.
                await #expect(throws: FastCGIError(.alreadyRunning, "")) { try await first.run() }
            }
            #expect(!FileManager.default.fileExists(atPath: path))

            let regular = directory.file("not-a-socket")
            _ = FileManager.default.createFile(atPath: regular, contents: Data("keep me".utf8))
            let third = FastCGIServer(
                application: TestApps.echoWSGI,
                configuration: FastCGIConfiguration(bind: .unix(path: regular), workerThreads: 1),
                logger: CapturedLogs().logger
            )
            await #expect(throws: FastCGIError(.bindFailed, "")) { try await third.run() }
            #expect(try String(contentsOfFile: regular, encoding: .utf8) == "keep me")

            let busyPort = FastCGIServer(
                application: TestApps.echoWSGI,
                configuration: FastCGIConfiguration(bind: .tcp(host: "127.0.0.1", port: 0)),
                logger: CapturedLogs().logger
            )
            await #expect(throws: FastCGIError(.invalidConfiguration, "")) { try await busyPort.run() }
        }
    }

    @Test("Socket activation: the listening socket inherited on fd 0 (spawn-fcgi, systemd StandardInput=socket)")
    func inheritedSocket() async throws {
        let executable = try builtExecutable("FastCGIHello")
        try await withTestDirectory("inherited") { directory in
            let path = directory.file("activated.sock")
            let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: Array(path.utf8))
                raw[path.utf8.count] = 0
            }
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0 && listen(listener, 16) == 0)
            let backend = try ChildProcess(
                executable,
                ["--fastcgi", "stdin", "--threads", "2", "--workers", "0"],
                environment: ["PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "FASTCGI_HELLO_KIND": "asgi"],
                stdin: .descriptor(listener),
                stdoutPath: directory.file("backend.out"),
                stderrPath: directory.file("backend.err")
            )
            close(listener)
            do {
                let answer = try await offPool { () -> String in
                    let connection = try RawConnection(unixPath: path)
                    connection.send(FastCGIWire.request(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")]))
                    return String(decoding: connection.readResponse().stdout, as: UTF8.self)
                }
                #expect(answer.hasPrefix("Status: 200 OK\r\n"))
                #expect(answer.hasSuffix("\r\n\r\nhello"))
                backend.signal(SIGTERM)
                #expect(try await backend.wait() == 0)
                // The inherited socket stays for its owner (systemd): the file is not removed.
                #expect(FileManager.default.fileExists(atPath: path))
            } catch {
                await backend.stop(signal: SIGKILL)
                throw error
            }
            // Without a listening socket on fd 0, the server refuses to start.
            let refused = try ChildProcess(
                executable,
                ["--fastcgi", "stdin", "--workers", "0"],
                stdoutPath: directory.file("refused.out"),
                stderrPath: directory.file("refused.err")
            )
            #expect(try await refused.wait() == 1)
            #expect(refused.standardError.contains("not a listening stream socket"))
        }
    }

    @Test("Cancellation cuts requests in flight and run() returns")
    func cancellation() async throws {
        let gate = Gate()
        let app = WSGIApp { _, startResponse in
            gate.waitBlocking()
            _ = try startResponse("200 OK", [], nil)
            return [Array("late".utf8)]
        }
        try await withTestDirectory("cancel") { directory in
            let path = directory.file("app.sock")
            let server = FastCGIServer(
                application: app,
                configuration: FastCGIConfiguration(bind: .unix(path: path), workerThreads: 1),
                logger: CapturedLogs().logger
            )
            let running = Task { try await server.run() }
            try await waitUntilListening(server.configuration.bind)
            let response = Task {
                try await offPool { () -> Bool in
                    let connection = try RawConnection(unixPath: path)
                    connection.send(FastCGIWire.request(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")]))
                    return connection.readResponse().ended
                }
            }
            try await onFailure({
                gate.open()
                running.cancel()
            }) {
                try await eventually("the request in flight") { gate.arrivals == 1 }
            }
            running.cancel()
            // The connection is cut: no FCGI_END_REQUEST.
            #expect(try await response.value == false)
            gate.open()
            try await running.value
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }
}
