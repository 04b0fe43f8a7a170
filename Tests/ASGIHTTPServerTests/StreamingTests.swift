import ASGI
import ASGIHTTPServer
import Foundation
import TestSupport
import Testing

/// Bodies streamed both ways, client disconnects, trailers.
@Suite(.timeLimit(.minutes(1)))
struct StreamingTests {
    static let sixtyFourMiB = 64 * 1024 * 1024

    /// The streaming tests run the server in a process of its own (`StreamingServer`) so that its
    /// memory high-water mark says whether bodies streamed (and the test process stays small).
    static let memoryBound = 8 * 1024 * 1024

    @Test("A 64 MiB upload streams to receive() with bounded server memory", arguments: [false, true])
    func upload(onEventLoops: Bool) async throws {
        let server = try await StreamingServerProcess.start(eventLoops: onEventLoops)
        defer { server.process.terminate() }
        _ = try await curl(["--data-binary", "warm-up", "\(server.url)/upload"])
        let before = server.memory("VmRSS")
        // The body comes from a pipe: curl sends it chunked and neither side holds it whole.
        let command = "head -c \(Self.sixtyFourMiB) /dev/zero | /usr/bin/curl --silent --show-error --max-time 50 -T - -w '|%{http_code}' \"$0\""
        let result = try await run("/bin/sh", ["-c", command, "\(server.url)/upload"])
        let growth = server.memory("VmHWM") - before
        #expect(result.stdout == "\(Self.sixtyFourMiB)|200", "\(result.stderr)")
        #expect(growth < Self.memoryBound, "the server's memory grew by \(growth >> 20) MiB")
        await server.stop()
    }

    @Test("A 64 MiB download streams from send() with bounded server memory", arguments: [false, true])
    func download(onEventLoops: Bool) async throws {
        let server = try await StreamingServerProcess.start(eventLoops: onEventLoops)
        defer { server.process.terminate() }
        _ = try await curl(["-o", "/dev/null", "\(server.url)/download?mib=1"])
        let before = server.memory("VmRSS")
        let result = try await curl(["-o", "/dev/null", "-w", "%{size_download}|%{http_code}", "\(server.url)/download?mib=64"])
        let growth = server.memory("VmHWM") - before
        #expect(result.stdout == "\(Self.sixtyFourMiB)|200", "\(result.stderr)")
        #expect(growth < Self.memoryBound, "the server's memory grew by \(growth >> 20) MiB")
        await server.stop()
    }

    @Test("A slow reader makes send() wait: the server holds little of a 64 MiB download")
    func downloadToSlowReader() async throws {
        let server = try await StreamingServerProcess.start(eventLoops: false)
        defer { server.process.terminate() }
        _ = try await curl(["-o", "/dev/null", "\(server.url)/download?mib=1"])
        let before = server.memory("VmRSS")
        let result = try await curl([
            "--limit-rate", "64M", "-o", "/dev/null", "-w", "%{size_download}|%{http_code}", "\(server.url)/download?mib=64",
        ])
        let growth = server.memory("VmHWM") - before
        #expect(result.stdout == "\(Self.sixtyFourMiB)|200", "\(result.stderr)")
        #expect(growth < Self.memoryBound, "the server's memory grew by \(growth >> 20) MiB")
        await server.stop()
    }

    @Test("A client that goes away reaches the app as http.disconnect; send then throws", arguments: [false, true])
    func clientDisconnect(onEventLoops: Bool) async throws {
        let events = Reports<String>()
        let app = ASGIApp { scope, receive, send in
            guard case .http = scope else { return }
            try await send(.httpResponseStart(status: 200))
            try await send(.httpResponseBody(body: Array("first".utf8), moreBody: true))
            events.report("streaming")
            while true {
                let event = try await receive()
                if event == .httpDisconnect { break }
            }
            events.report("disconnect")
            do {
                try await send(.httpResponseBody(body: Array("late".utf8), moreBody: true))
                events.report("send succeeded")
            } catch let error as ClientDisconnectedError where error.code == .connectionClosed {
                events.report("send threw clientDisconnected")
            }
        }
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"GET /stream HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            data = b""
            while b"first" not in data:
                data += s.recv(4096)
            s.close()
            print("closed")
            """
        try await withServer(app, configuration: testConfiguration { $0.runsOnEventLoops = onEventLoops }) { server in
            let client = try await python(script, ["\(server.port)"])
            #expect(client.stdout == "closed\n", "\(client.stderr)")
            #expect(try await events.next() == "streaming")
            #expect(try await events.next() == "disconnect")
            #expect(try await events.next() == "send threw clientDisconnected")
        }
    }

    @Test("A receive() cancelled while it waits loses nothing: the next receive() gets the data")
    func cancelledReceiveKeepsData() async throws {
        let app = ASGIApp { scope, receive, send in
            guard case .http = scope else { return }
            guard case .httpRequest(let first, true) = try await receive() else { return }
            // A receive with a timeout that expires: cancelled while it waits for more body.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { _ = try? await receive() }
                await Task.yield()
                group.cancelAll()
            }
            try await send(.httpResponseStart(status: 200))
            try await send(.httpResponseBody(body: Array("got \(String(decoding: first, as: UTF8.self));".utf8), moreBody: true))
            let rest = try await readBody(receive)
            try await send(.httpResponseBody(body: Array("then \(String(decoding: rest, as: UTF8.self))".utf8)))
        }
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 6\\r\\n\\r\\nabc")
            data = b""
            while b"got abc;" not in data:
                data += s.recv(65536)
            s.sendall(b"def")
            while not data.endswith(b"0\\r\\n\\r\\n"):
                data += s.recv(65536)
            body = data.split(b"\\r\\n\\r\\n", 1)[1]
            chunks = []
            while True:
                size, _, body = body.partition(b"\\r\\n")
                if int(size, 16) == 0:
                    break
                chunks.append(body[:int(size, 16)])
                body = body[int(size, 16) + 2:]
            print(b"".join(chunks).decode())
            """
        let result = try await withServer(app) { server in
            try await python(script, ["\(server.port)"])
        }
        #expect(result.stdout == "got abc;then def\n", "\(result.stderr)")
    }

    @Test("Trailers reach a client that sent TE: trailers, and are dropped for one that did not")
    func trailers() async throws {
        let app = ASGIApp { scope, _, send in
            guard case .http = scope else { return }
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")], trailers: true))
            try await send(.httpResponseBody(body: Array("body".utf8), moreBody: true))
            try await send(.httpResponseBody(body: Array("!".utf8)))
            try await send(.httpResponseTrailers(headers: [("x-checksum", "abc123")], moreTrailers: true))
            try await send(.httpResponseTrailers(headers: [("x-count", "2")]))
        }
        let script = """
            import json, socket, sys, h11
            def fetch(port, te):
                s = socket.create_connection(("127.0.0.1", port))
                conn = h11.Connection(h11.CLIENT)
                headers = [("Host", "x")] + ([("TE", "trailers")] if te else [])
                s.sendall(conn.send(h11.Request(method="GET", target="/", headers=headers)))
                s.sendall(conn.send(h11.EndOfMessage()))
                body, trailers, chunked = b"", [], False
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(s.recv(65536))
                    elif isinstance(event, h11.Response):
                        chunked = any(n == b"transfer-encoding" and v == b"chunked" for n, v in event.headers)
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        trailers = [[n.decode(), v.decode()] for n, v in event.headers]
                        break
                s.close()
                return {"body": body.decode(), "trailers": trailers, "chunked": chunked}
            port = int(sys.argv[1])
            print(json.dumps({"with": fetch(port, True), "without": fetch(port, False)}))
            """
        let output = try json(
            try await withServer(app) { server in
                try await python(script, ["\(server.port)"])
            }
        )
        let with = try #require(output["with"] as? [String: Any])
        let without = try #require(output["without"] as? [String: Any])
        #expect(with["body"] as? String == "body!")
        #expect(with["chunked"] as? Bool == true)
        #expect(with["trailers"] as? [[String]] == [["x-checksum", "abc123"], ["x-count", "2"]])
        #expect(without["body"] as? String == "body!")
        #expect(without["trailers"] as? [[String]] == [])
    }

    @Test("Expect: 100-continue is answered when the application reads the body")
    func expectContinue() async throws {
        let app = ASGIApp { scope, receive, send in
            guard case .http = scope else { return }
            let body = try await readBody(receive)
            try await respond(send, "\(body.count)")
        }
        let result = try await withServer(app) { server in
            try await curl([
                "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "20",
                "--data-binary", String(repeating: "x", count: 5000), "\(server.url)/",
            ])
        }
        #expect(result.stdout == "5000")
        #expect(result.stderr.contains("HTTP/1.1 100 Continue"))
    }
}

/// `http.response.pathsend` and `wsgi.file_wrapper` over HTTP: `sendfile`, so the file's bytes
/// never pass through the server's memory.
@Suite(.timeLimit(.minutes(1)))
struct PathsendTests {
    /// Writes a file of `mib` MiB of a repeating pattern and returns its path.
    static func makeFile(mib: Int, in directory: String) throws -> String {
        let path = directory + "/file-\(mib).bin"
        var block = [UInt8](repeating: 0, count: 1 << 20)
        for index in block.indices { block[index] = UInt8(truncatingIfNeeded: index &* 31) }
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        for _ in 0..<mib { handle.write(Data(block)) }
        try handle.close()
        return path
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "asgi-pathsend-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("A 64 MiB file goes out whole, sized, with no growth of the server's memory", arguments: ["/file", "/wsgi-file"])
    func largeFile(route: String) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let large = try Self.makeFile(mib: 64, in: directory)
        let small = try Self.makeFile(mib: 1, in: directory)
        let server = try await StreamingServerProcess.start(eventLoops: true)
        defer { server.process.terminate() }
        let warm = try await curl(["-o", "/dev/null", "-w", "%{size_download}|%{http_code}", "\(server.url)\(route)?\(small)"])
        #expect(warm.stdout == "\(1 << 20)|200", "\(warm.stderr)")
        let before = server.memory("VmRSS")
        let output = directory + "/received.bin"
        let result = try await curl(["-o", output, "-D", "-", "-w", "%{size_download}|%{http_code}", "\(server.url)\(route)?\(large)"])
        let growth = server.memory("VmHWM") - before
        #expect(result.stdout.lowercased().contains("content-length: \(64 << 20)"))
        #expect(result.stdout.hasSuffix("\(64 << 20)|200"), "\(result.stderr)")
        #expect(FileManager.default.contentsEqual(atPath: output, andPath: large))
        #expect(growth < 1 << 20, "the server's memory grew by \(growth >> 10) KiB")
        await server.stop()
    }

    @Test("HEAD gets the file's length and no body; a missing file is a 500 before anything went out")
    func headAndMissingFile() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Self.makeFile(mib: 1, in: directory)
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "application/octet-stream")]))
            try await send(.httpResponsePathsend(path: http.path == "/missing" ? directory + "/nothing-here" : file))
        }
        let (head, missing, after) = try await withServer(app) { server in
            let head = try await curl(["-I", "-w", "|%{size_download}", "\(server.url)/file"])
            let missing = try await curl(["-w", "|%{http_code}", "\(server.url)/missing"])
            let after = try await curl(["-o", "/dev/null", "-w", "%{size_download}|%{http_code}", "\(server.url)/file"])
            return (head, missing, after)
        }
        #expect(head.stdout.lowercased().contains("content-length: \(1 << 20)"))
        #expect(head.stdout.hasSuffix("|0"))
        #expect(missing.stdout == "Internal Server Error|500")
        #expect(after.stdout == "\(1 << 20)|200")
    }
}
