@_spi(ASGIFrontend) import ASGI
import ASGIFastCGI
import Foundation
import Glibc
import TestSupport
import Testing

/// nginx's locations for the end-to-end tests; `$backend` is the server's address.
let standardLocations = """
    location /app/ {
      fastcgi_split_path_info ^(/app)(/.*)$;
      \(fastcgiParams)
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param APP_FLAVOUR blue;
      fastcgi_pass $backend;
    }
    location /secure/ { \(fastcgiParams) fastcgi_param HTTPS on; fastcgi_pass $backend; }
    location /stream/ { \(fastcgiParams) fastcgi_buffering off; fastcgi_pass $backend; }
    location /upload/ { \(fastcgiParams) fastcgi_request_buffering off; fastcgi_pass $backend; }
    location /keep/ { \(fastcgiParams) fastcgi_keep_conn on; fastcgi_pass backend_pool; }
    location / { \(fastcgiParams) fastcgi_pass $backend; }
    """

/// Where a test server listens, and how nginx names it.
enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case unix, tcp

    var testDescription: String { rawValue }

    func bind(in directory: TestDirectory) throws -> (FastCGIConfiguration.Bind, String) {
        switch self {
        case .unix:
            let path = directory.file("app.sock")
            return (.unix(path: path, mode: 0o660), "unix:\(path)")
        case .tcp:
            let port = try freeLoopbackPort()
            return (.tcp(host: "127.0.0.1", port: port), "127.0.0.1:\(port)")
        }
    }
}

/// Starts a server for `application` and nginx in front of it, runs `body`, stops both.
func withNginxAndServer<R: Sendable>(
    _ name: String,
    transport: Transport = .unix,
    wsgi: (any WSGIApplication)? = nil,
    asgi: (any ASGIApplication)? = nil,
    locations: String = standardLocations,
    logs: CapturedLogs = CapturedLogs(),
    configure: (inout FastCGIConfiguration) -> Void = { _ in },
    _ body: @Sendable (Nginx, FastCGIServer, TestDirectory) async throws -> R
) async throws -> R {
    try await withTestDirectory(name) { directory in
        let (bind, address) = try transport.bind(in: directory)
        var configuration = FastCGIConfiguration(bind: bind, workerThreads: 4)
        configure(&configuration)
        let server =
            asgi.map { FastCGIServer(application: $0, configuration: configuration, logger: logs.logger) }
            ?? FastCGIServer(application: wsgi ?? TestApps.echoWSGI, configuration: configuration, logger: logs.logger)
        return try await withServer(server) { server in
            let nginx = try await Nginx.start(in: directory, backend: address, locations: locations)
            do {
                let result = try await body(nginx, server, directory)
                await nginx.stop()
                return result
            } catch {
                let errors = nginx.errorLog.split(separator: "\n").filter { $0.contains("[error]") || $0.contains("[crit]") }.suffix(5)
                await nginx.stop()
                if !errors.isEmpty { Issue.record("nginx errors:\n\(errors.joined(separator: "\n"))") }
                throw error
            }
        }
    }
}

@Suite("FastCGI end to end through nginx")
struct EndToEndTests {
    @Test("A WSGI-style application answers through nginx: status, headers, body", arguments: Transport.allCases)
    func wsgiHello(transport: Transport) async throws {
        try await withNginxAndServer("wsgi-hello", transport: transport) { nginx, _, directory in
            let response = try await curl("\(nginx.url)/hello?x=1", ["-H", "X-Custom: yes"], in: directory)
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.header("X-Echo") == "wsgi")
            #expect(response.headers("Set-Cookie") == ["a=1", "b=2"])
            let environ = response.json
            #expect(environ["REQUEST_METHOD"] as? String == "GET")
            #expect(environ["PATH_INFO"] as? String == "/hello")
            #expect(environ["SCRIPT_NAME"] as? String == "")
            #expect(environ["QUERY_STRING"] as? String == "x=1")
            #expect(environ["HTTP_X_CUSTOM"] as? String == "yes")
            #expect((environ["thread"] as? String)?.hasPrefix("fcgi-worker") == true)
        }
    }

    @Test("An ASGI application answers through nginx and runs on the worker thread", arguments: Transport.allCases)
    func asgiHello(transport: Transport) async throws {
        try await withNginxAndServer("asgi-hello", transport: transport, asgi: TestApps.echoASGI) { nginx, _, directory in
            let response = try await curl("\(nginx.url)/hello", ["-d", "abc"], in: directory)
            #expect(response.status == 200)
            #expect(response.header("X-Echo") == "asgi")
            #expect(response.headers("Set-Cookie") == ["a=1", "b=2"])
            let scope = response.json
            #expect(scope["method"] as? String == "POST")
            #expect(scope["path"] as? String == "/hello")
            #expect(scope["body.length"] as? Int == 3)
            #expect((scope["thread.start"] as? String)?.hasPrefix("fcgi-worker") == true)
            #expect(scope["thread.after_receive"] as? String == scope["thread.start"] as? String)
        }
    }

    @Test("The environ comes from nginx's parameters only: split path, HTTPS, client and server, no process environment")
    func environFromParameters() async throws {
        try await withNginxAndServer("environ") { nginx, _, directory in
            let mounted = try await curl("\(nginx.url)/app/users/42?page=2&sort=name", ["-H", "Accept: text/plain"], in: directory).json
            #expect(mounted["SCRIPT_NAME"] as? String == "/app")
            #expect(mounted["PATH_INFO"] as? String == "/users/42")
            #expect(mounted["QUERY_STRING"] as? String == "page=2&sort=name")
            #expect(mounted["REQUEST_URI"] as? String == "/app/users/42?page=2&sort=name")
            #expect(mounted["REMOTE_ADDR"] as? String == "127.0.0.1")
            #expect(Int(mounted["REMOTE_PORT"] as? String ?? "") != nil)
            #expect(mounted["SERVER_PORT"] as? String == String(nginx.port))
            #expect(mounted["SERVER_PROTOCOL"] as? String == "HTTP/1.1")
            #expect(mounted["HTTP_ACCEPT"] as? String == "text/plain")
            #expect(mounted["wsgi.url_scheme"] as? String == "http")
            #expect(mounted["APP_FLAVOUR"] as? String == "blue")
            #expect(mounted["GATEWAY_INTERFACE"] as? String == "CGI/1.1")
            #expect(mounted["HTTPS"] == nil)
            // Never the process environment.
            #expect(mounted["PATH"] == nil)
            #expect(mounted["HOME"] == nil)

            let secure = try await curl("\(nginx.url)/secure/x", in: directory).json
            #expect(secure["wsgi.url_scheme"] as? String == "https")
            #expect(secure["HTTPS"] as? String == "on")
            #expect(secure["SCRIPT_NAME"] as? String == "")
            #expect(secure["PATH_INFO"] as? String == "/secure/x")
        }
    }

    @Test("Without PATH_INFO from nginx, a configured root path splits REQUEST_URI")
    func configuredRootPath() async throws {
        let configure: (inout FastCGIConfiguration) -> Void = { $0.rootPath = "/secure" }
        try await withNginxAndServer("root-path", configure: configure) { nginx, _, directory in
            let inside = try await curl("\(nginx.url)/secure/a/b", in: directory).json
            #expect(inside["SCRIPT_NAME"] as? String == "/secure")
            #expect(inside["PATH_INFO"] as? String == "/a/b")
            let outside = try await curl("\(nginx.url)/securex/a", in: directory).json
            #expect(outside["SCRIPT_NAME"] as? String == "")
            #expect(outside["PATH_INFO"] as? String == "/securex/a")
        }
    }

    @Test("Query strings and non-ASCII paths: WSGI gets latin-1 of the UTF-8 bytes, ASGI the decoded path")
    func nonASCIIPaths() async throws {
        let target = "/app/caf%C3%A9/%E2%9C%93?q=%C3%A9t%C3%A9&x=a+b"
        try await withNginxAndServer("non-ascii-wsgi") { nginx, _, directory in
            let environ = try await curl(nginx.url + target, in: directory).json
            #expect(environ["SCRIPT_NAME"] as? String == "/app")
            #expect(environ["PATH_INFO"] as? String == String(latin1: Array("/café/✓".utf8)))
            #expect(environ["QUERY_STRING"] as? String == "q=%C3%A9t%C3%A9&x=a+b")
            #expect(environ["REQUEST_URI"] as? String == target)
        }
        try await withNginxAndServer("non-ascii-asgi", asgi: TestApps.echoASGI) { nginx, _, directory in
            let scope = try await curl(nginx.url + target, in: directory).json
            #expect(scope["path"] as? String == "/app/café/✓")
            #expect(scope["root_path"] as? String == "/app")
            #expect(scope["raw_path"] as? String == "/app/caf%C3%A9/%E2%9C%93")
            #expect(scope["query_string"] as? String == "q=%C3%A9t%C3%A9&x=a+b")
            #expect((scope["fastcgi.params"] as? [String: String])?["APP_FLAVOUR"] == "blue")
        }
    }

    @Test("A 64 MiB upload is streamed to the application and counted", arguments: ["wsgi", "asgi"])
    func largeUpload(kind: String) async throws {
        let size = 64 * 1024 * 1024
        let configure: (inout FastCGIConfiguration) -> Void = { $0.maxRequestBodyBytes = 128 * 1024 * 1024 }
        try await withNginxAndServer(
            "upload-\(kind)",
            wsgi: TestApps.countingWSGI,
            asgi: kind == "asgi" ? TestApps.countingASGI : nil,
            configure: configure
        ) { nginx, _, directory in
            var pattern = [UInt8](repeating: 0, count: 1 << 20)
            for index in pattern.indices { pattern[index] = UInt8(truncatingIfNeeded: index &* 7 &+ index >> 9) }
            let file = directory.file("upload.bin")
            try writeRepeated(pattern, times: size >> 20, to: file)
            var expectedChecksum: UInt32 = 0
            for _ in 0..<(size >> 20) { for byte in pattern { expectedChecksum = expectedChecksum &* 31 &+ UInt32(byte) } }

            let response = try await curl(
                "\(nginx.url)/upload/data",
                ["--data-binary", "@\(file)", "-H", "Content-Type: application/octet-stream"],
                in: directory
            )
            #expect(response.status == 200)
            let result = response.json
            #expect(result["bytes"] as? Int == size)
            #expect(result["checksum"] as? Int == Int(expectedChecksum))
            // Read piece by piece as it arrived, never as one buffer.
            #expect((result["reads"] as? Int ?? 0) > 64)
            if kind == "wsgi" { #expect((result["largest_read"] as? Int ?? .max) <= 64 * 1024) }
        }
    }

    @Test("A streamed response arrives at the client in pieces (fastcgi_buffering off)", arguments: ["wsgi", "asgi"])
    func streamedResponse(kind: String) async throws {
        let gate = Gate()
        let wsgi = WSGIApp { _, startResponse in
            _ = try startResponse("200 OK", [("Content-Type", "text/event-stream")], nil)
            var step = 0
            return WSGIClosureBody(next: {
                step += 1
                switch step {
                case 1: return Array("data: first\n\n".utf8)
                case 2:
                    gate.waitBlocking()
                    return Array("data: second\n\n".utf8)
                default: return nil
                }
            })
        }
        let asgi = ASGIApp { _, _, send in
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/event-stream")]))
            try await send(.httpResponseBody(body: Array("data: first\n\n".utf8), moreBody: true))
            await gate.wait()
            try await send(.httpResponseBody(body: Array("data: second\n\n".utf8), moreBody: false))
        }
        try await withNginxAndServer("stream-\(kind)", wsgi: wsgi, asgi: kind == "asgi" ? asgi : nil) { nginx, _, directory in
            let output = directory.file("stream.out")
            let client = try ChildProcess(
                curlExecutable,
                ["-sN", "--max-time", "30", "-o", output, "\(nginx.url)/stream/events"],
                stdoutPath: directory.file("stream.stdout"),
                stderrPath: directory.file("stream.stderr")
            )
            try await onFailure({
                gate.open()
                await client.stop(signal: SIGKILL)
            }) {
                // The first event reaches the client while the application still holds the second.
                try await eventually("the first event at the client") {
                    (try? String(contentsOfFile: output, encoding: .utf8)) == "data: first\n\n"
                }
                #expect(gate.arrivals == 1)
                gate.open()
                #expect(try await client.wait() == 0)
                #expect(try String(contentsOfFile: output, encoding: .utf8) == "data: first\n\ndata: second\n\n")
            }
        }
    }

    @Test(
        "The response reaches the client when it is complete, while the application still works (background task, close())",
        arguments: ["wsgi", "asgi"]
    )
    func responseBeforeHandlerReturns(kind: String) async throws {
        let gate = Gate()
        let finished = Shared(false)
        let wsgi = WSGIApp { _, startResponse in
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return WSGIClosureBody(
                next: { nil },
                close: {
                    gate.waitBlocking()
                    finished.update { $0 = true }
                }
            )
        }
        let asgi = ASGIApp { _, _, send in
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
            try await send(.httpResponseBody(body: Array("done".utf8)))
            await gate.wait()  // a background task after the response
            finished.update { $0 = true }
        }
        try await withNginxAndServer("early-\(kind)", wsgi: wsgi, asgi: kind == "asgi" ? asgi : nil) { nginx, server, directory in
            try await onFailure({ gate.open() }) {
                let response = try await curl("\(nginx.url)/work", in: directory)
                #expect(response.status == 200)
                #expect(response.text == (kind == "asgi" ? "done" : ""))
                #expect(!finished.current)
                #expect(server.status.activeWorkers == 1)
                gate.open()
                try await eventually("the handler finished and the worker freed") { finished.current && server.status.activeWorkers == 0 }
                #expect(try await curl("\(nginx.url)/next", in: directory).status == 200)
            }
        }
    }

    @Test("fastcgi_keep_conn: requests reuse one connection; without it, one connection each", arguments: ["wsgi", "asgi"])
    func keepConnection(kind: String) async throws {
        try await withNginxAndServer("keep-\(kind)", asgi: kind == "asgi" ? TestApps.echoASGI : nil) { nginx, server, directory in
            let before = server.status.acceptedConnections
            for index in 0..<5 {
                let response = try await curl("\(nginx.url)/keep/\(index)", in: directory)
                #expect(response.status == 200)
            }
            let afterKept = server.status
            #expect(afterKept.acceptedConnections - before == 1)
            for index in 0..<3 {
                #expect(try await curl("\(nginx.url)/plain/\(index)", in: directory).status == 200)
            }
            #expect(server.status.acceptedConnections - afterKept.acceptedConnections == 3)
            #expect(server.status.acceptedRequests >= 8)
        }
    }

    @Test("An oversize body gets 413: declared (Content-Length) and streamed (read past the limit)")
    func oversizeBody() async throws {
        let configure: (inout FastCGIConfiguration) -> Void = { $0.maxRequestBodyBytes = 1 << 20 }
        try await withNginxAndServer("oversize", wsgi: TestApps.countingWSGI, configure: configure) { nginx, server, directory in
            let file = directory.file("two-mib.bin")
            try writeRepeated([UInt8](repeating: 0x61, count: 64 * 1024), times: 32, to: file)
            let declared = try await curl("\(nginx.url)/upload/x", ["--data-binary", "@\(file)"], in: directory)
            #expect(declared.status == 413)
            #expect(declared.text.contains("larger than the limit of 1048576 bytes"))
            let small = try await curl("\(nginx.url)/upload/x", ["--data-binary", "hello"], in: directory)
            #expect(small.status == 200)
            #expect(small.json["bytes"] as? Int == 5)
            #expect(server.status.rejectedRequests == 1)
        }
        // A body with no declared length is counted as it is read.
        try await withTestDirectory("oversize-raw") { directory in
            let path = directory.file("app.sock")
            let server = FastCGIServer(
                application: TestApps.countingWSGI,
                configuration: FastCGIConfiguration(bind: .unix(path: path), workerThreads: 1, maxRequestBodyBytes: 1000),
                logger: CapturedLogs().logger
            )
            try await withServer(server) { _ in
                let response = try await offPool { () -> [UInt8] in
                    let connection = try RawConnection(unixPath: path)
                    connection.send(
                        FastCGIWire.request(
                            params: [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/x")],
                            body: [UInt8](repeating: 0x62, count: 3000)
                        )
                    )
                    return connection.readResponse().stdout
                }
                #expect(String(decoding: response, as: UTF8.self).hasPrefix("Status: 413"))
            }
        }
    }

    @Test("ping and status endpoints: text and JSON")
    func pingAndStatus() async throws {
        let configure: (inout FastCGIConfiguration) -> Void = {
            $0.pingPath = "/fpm-ping"
            $0.statusPath = "/fpm-status"
            $0.pingResponse = "pong"
        }
        try await withNginxAndServer("status", configure: configure) { nginx, _, directory in
            let ping = try await curl("\(nginx.url)/fpm-ping", in: directory)
            #expect(ping.status == 200)
            #expect(ping.text == "pong\n")
            for _ in 0..<3 { _ = try await curl("\(nginx.url)/other", in: directory) }
            let text = try await curl("\(nginx.url)/fpm-status", in: directory)
            #expect(text.status == 200)
            #expect(text.header("Content-Type")?.hasPrefix("text/plain") == true)
            #expect(text.text.contains("accepted requests:     5"))
            #expect(text.text.contains("total workers:         4"))
            #expect(text.text.contains("active workers:        1"))  // the status request itself
            let json = try await curl("\(nginx.url)/fpm-status?json", in: directory)
            #expect(json.header("Content-Type") == "application/json")
            let fields = json.json
            #expect(fields["accepted_requests"] as? Int == 6)
            #expect(fields["idle_workers"] as? Int == 3)
            #expect(fields["active_workers"] as? Int == 1)
            #expect(fields["total_workers"] as? Int == 4)
            #expect(fields["listen_queue"] as? Int == 0)
            #expect(fields["listen_queue_len"] as? Int == 511)
            #expect(fields["slow_requests"] as? Int == 0)
            #expect((fields["address"] as? String)?.hasPrefix("unix:") == true)
        }
        // Off by default: the application answers those paths.
        try await withNginxAndServer("status-off") { nginx, _, directory in
            let response = try await curl("\(nginx.url)/fpm-status", in: directory)
            #expect(response.json["PATH_INFO"] as? String == "/fpm-status")
        }
    }
}
