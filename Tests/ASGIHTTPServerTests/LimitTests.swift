import ASGI
import ASGIHTTPServer
import TestSupport
import Testing

/// Limits the server enforces for the application.
@Suite(.timeLimit(.minutes(1)))
struct LimitTests {
    @Test("A body over maxRequestBodyBytes gets 413: at once by Content-Length, or as it grows")
    func bodyTooLarge() async throws {
        let calls = Reports<String>()
        let app = ASGIApp { scope, receive, send in
            guard case .http(let http) = scope else { return }
            calls.report(http.path)
            var total = 0
            while case .httpRequest(let body, let more) = try await receive() {
                total += body.count
                if !more { break }
            }
            try await respond(send, "read \(total)")
        }
        let configuration = testConfiguration { $0.maxRequestBodyBytes = 1000 }
        let (declared, chunked, small) = try await withServer(app, configuration: configuration) { server in
            let declared = try await curl(["-w", "|%{http_code}", "--data-binary", String(repeating: "x", count: 2000), "\(server.url)/declared"])
            let command = "head -c 5000 /dev/zero | /usr/bin/curl --silent --show-error --max-time 30 -T - -w '|%{http_code}' \"$0\""
            let chunked = try await run("/bin/sh", ["-c", command, "\(server.url)/chunked"])
            let small = try await curl(["-w", "|%{http_code}", "--data-binary", "12345", "\(server.url)/small"])
            return (declared, chunked, small)
        }
        #expect(declared.stdout == "Content Too Large: the request body of 2000 bytes is larger than the limit of 1000 bytes|413")
        #expect(chunked.stdout.hasSuffix("|413"), "\(chunked.stderr)")
        #expect(small.stdout == "read 5|200")
        // The declared-too-large request never reached the application.
        #expect(try await calls.next() == "/chunked")
        #expect(try await calls.next() == "/small")
    }

    @Test("A client still uploading a refused body reads the 413 (no connection reset)")
    func tooLargeWhileUploading() async throws {
        let app = ASGIApp { _, receive, send in
            _ = try await readBody(receive)
            try await respond(send, "read")
        }
        let configuration = testConfiguration { $0.maxRequestBodyBytes = 1000 }
        let script = """
            import socket, sys, threading
            def upload(port, chunked):
                s = socket.create_connection(("127.0.0.1", port))
                framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: 8388608"
                s.sendall(b"POST / HTTP/1.1\\r\\nHost: x\\r\\n" + framing + b"\\r\\n\\r\\n")
                def send_body():
                    piece = b"x" * 65536
                    if chunked:
                        piece = b"10000\\r\\n" + piece + b"\\r\\n"
                    try:
                        for _ in range(128):
                            s.sendall(piece)
                    except OSError:
                        pass
                sender = threading.Thread(target=send_body)
                sender.start()
                data = b""
                try:
                    while b"\\r\\n\\r\\n" not in data:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError as error:
                    return "error " + type(error).__name__
                sender.join()
                s.close()
                return data.split(b"\\r\\n")[0].decode()
            port = int(sys.argv[1])
            print(upload(port, False), "/", upload(port, True))
            """
        let result = try await withServer(app, configuration: configuration) { server in
            try await python(script, ["\(server.port)"])
        }
        #expect(result.stdout == "HTTP/1.1 413 Payload Too Large / HTTP/1.1 413 Payload Too Large\n", "\(result.stderr)")
    }

    @Test("Past maxConcurrentRequests a request gets 503; the one in flight completes")
    func concurrencyLimit() async throws {
        let started = Reports<String>()
        let release = Gate()
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            if http.path == "/slow" {
                started.report("slow")
                await release.wait()
            }
            try await respond(send, "done \(http.path)")
        }
        let configuration = testConfiguration { $0.maxConcurrentRequests = 1 }
        try await withServer(app, configuration: configuration) { server in
            let slow = try await ChildProcess.launch("/usr/bin/curl", ["--silent", "--max-time", "30", "-w", "|%{http_code}", "\(server.url)/slow"])
            defer { slow.terminate() }
            #expect(try await started.next() == "slow")
            let rejected = try await curl(["-w", "|%{http_code}", "\(server.url)/fast"])
            #expect(rejected.stdout == "Service Unavailable|503")
            release.open()
            #expect(await slow.result().stdout == "done /slow|200")
            let after = try await curl(["-w", "|%{http_code}", "\(server.url)/fast"])
            #expect(after.stdout == "done /fast|200")
        }
    }

    @Test("Past maxConcurrentConnections a new connection's request gets 503")
    func connectionLimit() async throws {
        let started = Reports<String>()
        let release = Gate()
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            if http.path == "/slow" {
                started.report("slow")
                await release.wait()
            }
            try await respond(send, "done \(http.path)")
        }
        let configuration = testConfiguration { $0.maxConcurrentConnections = 1 }
        try await withServer(app, configuration: configuration) { server in
            let slow = try await ChildProcess.launch("/usr/bin/curl", ["--silent", "--max-time", "30", "-w", "|%{http_code}", "\(server.url)/slow"])
            defer { slow.terminate() }
            #expect(try await started.next() == "slow")
            let rejected = try await curl(["-w", "|%{http_code}", "\(server.url)/second"])
            #expect(rejected.stdout == "Service Unavailable|503")
            release.open()
            #expect(await slow.result().stdout == "done /slow|200")
        }
    }

    @Test("Request heads over maxHeaderBytes or maxHeaderCount get 431")
    func headerLimits() async throws {
        let app = ASGIApp { _, _, send in try await respond(send, "ok") }
        let configuration = testConfiguration {
            $0.maxHeaderBytes = 4096
            $0.maxHeaderCount = 20
        }
        let (big, many, fine) = try await withServer(app, configuration: configuration) { server in
            let big = try await curl(["-w", "|%{http_code}", "-H", "X-Big: \(String(repeating: "b", count: 5000))", "\(server.url)/"])
            let many = try await curl(["-w", "|%{http_code}"] + (0..<30).flatMap { ["-H", "X-H\($0): v"] } + ["\(server.url)/"])
            let fine = try await curl(["-w", "|%{http_code}", "\(server.url)/"])
            return (big, many, fine)
        }
        #expect(big.stdout.hasSuffix("|431"))
        #expect(many.stdout.hasSuffix("|431"))
        #expect(fine.stdout == "ok|200")
    }

    @Test("A keep-alive connection idle past idleTimeout is closed by the server")
    func idleTimeout() async throws {
        let app = ASGIApp { _, _, send in try await respond(send, "ok") }
        let configuration = testConfiguration { $0.idleTimeout = .milliseconds(200) }
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.settimeout(20)
            s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            print("closed after", data.count(b"HTTP/1.1 200"), "response")
            """
        let result = try await withServer(app, configuration: configuration) { server in
            try await python(script, ["\(server.port)"])
        }
        #expect(result.stdout == "closed after 1 response\n", "\(result.stderr)")
    }

    @Test("A keep-alive connection carries at most maxRequestsPerConnection requests; the last says Connection: close")
    func requestsPerConnectionCap() async throws {
        let app = ASGIApp { _, _, send in try await respond(send, "ok") }
        let configuration = testConfiguration {
            $0.maxRequestsPerConnection = 3
            $0.idleTimeout = .milliseconds(500)
        }
        let script = """
            import socket, sys
            def pipelined(count):
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                s.settimeout(20)
                s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * count)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                return data
            data = pipelined(5)
            last = data.split(b"HTTP/1.1 200")[-1].lower()
            print(data.count(b"HTTP/1.1 200"), b"connection: close" in last, pipelined(1).count(b"HTTP/1.1 200"))
            """
        let result = try await withServer(app, configuration: configuration) { server in
            try await python(script, ["\(server.port)"])
        }
        // Three answered, the third closing the connection; a new connection is served.
        #expect(result.stdout == "3 True 1\n", "\(result.stdout) \(result.stderr)")
    }
}
