import ASGI
import ASGIFastCGI
import Foundation
import Glibc
import TestSupport
import Testing

let cgiFcgiExecutable = "/usr/bin/cgi-fcgi"

/// Runs libfcgi's `cgi-fcgi` against the server: `environment` becomes the FastCGI parameters,
/// `input` the body. Returns what the server answered (the CGI response) and cgi-fcgi's exit.
func cgiFcgi(
    _ address: String,
    environment: [String: String],
    input: [UInt8] = [],
    in directory: TestDirectory
) async throws -> (output: String, exit: Int32) {
    guard FileManager.default.isExecutableFile(atPath: cgiFcgiExecutable) else {
        throw TestFailure("cgi-fcgi is not installed at \(cgiFcgiExecutable): run scripts/bootstrap.sh (apt-get install libfcgi-bin)")
    }
    let name = "cgi-fcgi-\(UInt32.random(in: 0...UInt32.max))"
    let process = try ChildProcess(
        cgiFcgiExecutable,
        ["-bind", "-connect", address],
        environment: environment,
        stdin: .pipe,
        stdoutPath: directory.file(name + ".out"),
        stderrPath: directory.file(name + ".err")
    )
    if !input.isEmpty { try process.writeStdin(input) }
    process.closeStdin()
    let exit = try await process.wait()
    return (process.standardOutput, exit)
}

/// The CGI environment cgi-fcgi turns into FastCGI parameters for a plain GET.
func cgiRequest(_ uri: String, method: String = "GET", extra: [String: String] = [:]) -> [String: String] {
    let query = uri.firstIndex(of: "?").map { String(uri[uri.index(after: $0)...]) } ?? ""
    return [
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "cgi-fcgi.test",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "192.0.2.7",
        "REMOTE_PORT": "4242",
        "HTTP_HOST": "cgi-fcgi.test",
    ].merging(extra) { $1 }
}

/// Starts a server with one worker thread on a unix socket, for protocol tests.
func withOneWorker<R: Sendable>(
    _ name: String,
    wsgi: any WSGIApplication = TestApps.echoWSGI,
    configure: (inout FastCGIConfiguration) -> Void = { _ in },
    _ body: @Sendable (FastCGIServer, String, TestDirectory) async throws -> R
) async throws -> R {
    try await withTestDirectory(name) { directory in
        let path = directory.file("app.sock")
        var configuration = FastCGIConfiguration(bind: .unix(path: path), workerThreads: 1)
        configure(&configuration)
        let server = FastCGIServer(application: wsgi, configuration: configuration, logger: CapturedLogs().logger)
        return try await withServer(server) { server in try await body(server, path, directory) }
    }
}

/// Sends `input` on a new connection and reads until the server closes it.
func exchange(path: String, _ input: [UInt8], shutdownWrite: Bool = false) async throws -> [UInt8] {
    try await offPool {
        let connection = try RawConnection(unixPath: path)
        connection.send(input)
        if shutdownWrite { connection.shutdownWrite() }
        return connection.readAll()
    }
}

@Suite("FastCGI protocol: cgi-fcgi, limits, malformed and truncated input")
struct ProtocolTests {
    @Test("cgi-fcgi: a request straight to the server, without nginx")
    func cgiFcgiRequest() async throws {
        try await withOneWorker("cgi-fcgi") { _, path, directory in
            let (output, exit) = try await cgiFcgi(
                path,
                environment: cgiRequest(
                    "/hello/w%C3%B6rld?a=1&b=2",
                    method: "POST",
                    extra: ["CONTENT_LENGTH": "4", "CONTENT_TYPE": "text/plain"]
                ),
                input: Array("data".utf8),
                in: directory
            )
            #expect(exit == 0)
            #expect(output.hasPrefix("Status: 200 OK\r\n"))
            let json = output.components(separatedBy: "\r\n\r\n").last ?? ""
            let environ = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
            #expect(environ["PATH_INFO"] as? String == String(latin1: Array("/hello/wörld".utf8)))
            #expect(environ["QUERY_STRING"] as? String == "a=1&b=2")
            #expect(environ["REMOTE_ADDR"] as? String == "192.0.2.7")
            #expect(environ["REMOTE_PORT"] as? String == "4242")
            #expect(environ["SERVER_NAME"] as? String == "cgi-fcgi.test")
            #expect(environ["CONTENT_TYPE"] as? String == "text/plain")
            #expect(environ["CONTENT_LENGTH"] as? String == "4")
            #expect(environ["body.length"] as? Int == 4)
            #expect(environ["HTTP_HOST"] as? String == "cgi-fcgi.test")
        }
    }

    @Test("A dot-segment in the path (plain or percent-encoded) gets 400 before the application runs, as over HTTP")
    func dotSegmentInPath() async throws {
        try await withOneWorker("dots") { server, path, directory in
            for uri in ["/ws/../admin", "/a/%2e%2e/b", "/a/./b"] {
                let refused = try await cgiFcgi(path, environment: cgiRequest(uri), in: directory)
                #expect(refused.output.hasPrefix("Status: 400 "), "\(uri): \(refused.output.prefix(200))")
            }
            #expect(try await cgiFcgi(path, environment: cgiRequest("/a/..b/.c"), in: directory).output.hasPrefix("Status: 200 OK"))
            #expect(server.status.rejectedRequests == 3)
        }
    }

    @Test("A NUL in the decoded path gets 400 before the application runs, as over HTTP; the next request is served")
    func nulInPath() async throws {
        try await withOneWorker("nul") { server, path, directory in
            let encoded = try await cgiFcgi(path, environment: cgiRequest("/files/a%00.txt"), in: directory)
            #expect(encoded.output.hasPrefix("Status: 400 "), "\(encoded.output.prefix(200))")
            #expect(encoded.output.contains("NUL"))
            // (A raw NUL cannot arrive in PATH_INFO: libfcgi keeps parameters as C strings.)
            #expect(try await cgiFcgi(path, environment: cgiRequest("/files/a.txt"), in: directory).output.hasPrefix("Status: 200 OK"))
            #expect(server.status.rejectedRequests == 1)
        }
    }

    @Test("Parameter limits: too many or too large parameters get 431; a bad CONTENT_LENGTH gets 400")
    func parameterLimits() async throws {
        let configure: (inout FastCGIConfiguration) -> Void = {
            $0.maxParamsCount = 40
            $0.maxParamsBytes = 4096
        }
        try await withOneWorker("params", configure: configure) { server, path, directory in
            var many = cgiRequest("/many")
            for index in 0..<50 { many["HTTP_X_FILLER_\(index)"] = "v" }
            let tooMany = try await cgiFcgi(path, environment: many, in: directory)
            #expect(tooMany.output.hasPrefix("Status: 431 "))
            #expect(tooMany.output.contains("more than 40 FastCGI parameters"))

            let large = try await cgiFcgi(
                path,
                environment: cgiRequest("/large", extra: ["HTTP_X_BIG": String(repeating: "z", count: 5000)]),
                in: directory
            )
            #expect(large.output.hasPrefix("Status: 431 "))

            let badLength = try await cgiFcgi(path, environment: cgiRequest("/bad", extra: ["CONTENT_LENGTH": "12abc"]), in: directory)
            #expect(badLength.output.hasPrefix("Status: 400 "))

            let fine = try await cgiFcgi(path, environment: cgiRequest("/fine"), in: directory)
            #expect(fine.output.hasPrefix("Status: 200 OK"))
            #expect(server.status.rejectedRequests == 3)
        }
    }

    @Test("A body shorter than its CONTENT_LENGTH is an error for the application, never a silent end")
    func truncatedBody() async throws {
        let seen = Shared<String?>(nil)
        let app = WSGIApp { environ, startResponse in
            do {
                _ = try environ.input.read()
                seen.update { $0 = "complete" }
            } catch {
                seen.update { $0 = String(describing: error) }
                throw error
            }
            _ = try startResponse("200 OK", [], nil)
            return [[UInt8]]()
        }
        try await withOneWorker("truncated", wsgi: app) { server, path, directory in
            let truncated = try await cgiFcgi(
                path,
                environment: cgiRequest("/upload", method: "POST", extra: ["CONTENT_LENGTH": "100"]),
                input: Array("only ten b".utf8),
                in: directory
            )
            #expect(!truncated.output.contains("Status: 200"))
            #expect(seen.current?.contains("ended after 10 of the 100 bytes") == true)
            try await eventually("the worker freed") { server.status.activeWorkers == 0 }
            let next = try await cgiFcgi(
                path,
                environment: cgiRequest("/upload", method: "POST", extra: ["CONTENT_LENGTH": "3"]),
                input: Array("abc".utf8),
                in: directory
            )
            #expect(next.output.hasPrefix("Status: 200 OK"))
            #expect(seen.current == "complete")
        }
    }

    /// Inputs no web server sends; after each, the single worker must serve the next request.
    static let malformedInputs: [(String, [UInt8])] = [
        ("garbage", Array("this is not FastCGI at all, not even close".utf8)),
        ("truncated header", [1, 1, 0]),
        ("version 2", FastCGIWire.record(FastCGIWire.beginRequest, [0, 1, 0, 0, 0, 0, 0, 0], version: 2)),
        ("unknown role", FastCGIWire.begin(role: 99) + FastCGIWire.record(FastCGIWire.params)),
        ("begin only", FastCGIWire.begin()),
        (
            "truncated params",
            FastCGIWire.begin() + Array(FastCGIWire.record(FastCGIWire.params, FastCGIWire.pair("REQUEST_METHOD", "GET")).prefix(12))
        ),
        (
            "huge declared parameter length",
            FastCGIWire.begin() + FastCGIWire.record(FastCGIWire.params, [0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x41])
        ),
        ("params without end", FastCGIWire.begin() + FastCGIWire.record(FastCGIWire.params, FastCGIWire.pair("REQUEST_METHOD", "GET"))),
        (
            "stdin for another request",
            FastCGIWire.begin() + FastCGIWire.record(FastCGIWire.params) + FastCGIWire.record(FastCGIWire.stdin, id: 9, Array("x".utf8))
        ),
        (
            "truncated body",
            FastCGIWire.begin()
                + FastCGIWire.record(FastCGIWire.params, FastCGIWire.pair("REQUEST_METHOD", "POST") + FastCGIWire.pair("CONTENT_LENGTH", "50"))
                + FastCGIWire.record(FastCGIWire.params) + FastCGIWire.record(FastCGIWire.stdin, Array("short".utf8))
        ),
        (
            "wrong record type mid-body",
            FastCGIWire.begin() + FastCGIWire.record(FastCGIWire.params) + FastCGIWire.record(FastCGIWire.params, Array("zz".utf8))
        ),
        ("nothing", []),
    ]

    @Test("Malformed or truncated FastCGI input: the worker survives and serves the next request")
    func malformedInput() async throws {
        try await withOneWorker("malformed") { server, path, directory in
            for (name, bytes) in Self.malformedInputs {
                let outcome = try await exchange(path: path, bytes, shutdownWrite: true)
                #expect(!String(decoding: outcome, as: UTF8.self).contains("Status: 200"), "\(name)")
                let next = try await cgiFcgi(path, environment: cgiRequest("/after/\(name.replacingOccurrences(of: " ", with: "-"))"), in: directory)
                #expect(next.output.hasPrefix("Status: 200 OK"), "after \(name): \(next.output.prefix(200))")
            }
            try await eventually("the worker idle") { server.status.activeWorkers == 0 }
        }
    }

    @Test("A second BEGIN_REQUEST on a busy connection is refused (FCGI_CANT_MPX_CONN); FCGI_GET_VALUES says no multiplexing")
    func multiplexingRefused() async throws {
        try await withOneWorker("mpx") { _, path, _ in
            // A management record first, then request 1 with a stray BEGIN for request 2 inside it.
            let query = FastCGIWire.pair("FCGI_MPXS_CONNS", "") + FastCGIWire.pair("FCGI_MAX_CONNS", "")
            var input = FastCGIWire.record(9, id: 0, query)
            input += FastCGIWire.begin(id: 1) + FastCGIWire.record(FastCGIWire.params, id: 1, FastCGIWire.pair("REQUEST_METHOD", "GET"))
            input += FastCGIWire.begin(id: 2) + FastCGIWire.record(FastCGIWire.params, id: 1) + FastCGIWire.record(FastCGIWire.stdin, id: 1)
            let records = try await exchange(path: path, input)
            let parsed = FastCGIRecord.parse(records)
            let values = parsed.first { $0.type == 10 }  // FCGI_GET_VALUES_RESULT
            #expect(values.map { String(decoding: $0.content, as: UTF8.self).contains("FCGI_MPXS_CONNS0") } == true)
            let refusal = parsed.first { $0.type == 3 && $0.id == 2 }  // END_REQUEST for request 2
            #expect(refusal?.content[4] == 1)  // FCGI_CANT_MPX_CONN
            let stdout = parsed.filter { $0.type == 6 && $0.id == 1 }.flatMap(\.content)
            #expect(String(decoding: stdout, as: UTF8.self).hasPrefix("Status: 200 OK"))
            #expect(parsed.contains { $0.type == 3 && $0.id == 1 })
        }
    }

    @Test(
        "A body chunk past libfcgi's buffer goes out in records of its own: the head and 150,000 bytes arrive whole, across several records, then the end"
    )
    func largeChunkInRecordsOfItsOwn() async throws {
        let body = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let app = WSGIApp { _, startResponse in
            _ = try startResponse("200 OK", [("Content-Type", "application/octet-stream")], nil)
            return [body]
        }
        try await withOneWorker("large-chunk", wsgi: app) { _, path, _ in
            let (response, records) = try await offPool { () -> ((stdout: [UInt8], ended: Bool), Int) in
                let connection = try RawConnection(unixPath: path)
                connection.send(FastCGIWire.request(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/large")]))
                let raw = connection.readAll()
                let parsed = FastCGIRecord.parse(raw)
                let stdout = parsed.filter { $0.type == 6 }.flatMap(\.content)
                return ((stdout, parsed.contains { $0.type == 3 }), parsed.filter { $0.type == 6 && !$0.content.isEmpty }.count)
            }
            let separator = Array("\r\n\r\n".utf8)
            let headEnd = (0..<max(0, response.stdout.count - 3)).first { Array(response.stdout[$0..<($0 + 4)]) == separator }
            #expect(response.ended)
            #expect(String(decoding: response.stdout.prefix(16), as: UTF8.self) == "Status: 200 OK\r\n")
            #expect(headEnd.map { Array(response.stdout[($0 + 4)...]) } == body)
            #expect(records >= 3)
        }
    }

    @Test(
        "A last chunk past libfcgi's buffer ends its request with it: FCGI_STDOUT records of the head and page, the empty FCGI_STDOUT, FCGI_END_REQUEST (complete, status 0), on a kept connection twice"
    )
    func lastChunkEndsTheRequest() async throws {
        let page = (0..<9_000).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        let app = WSGIApp { _, startResponse in
            _ = try startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", String(page.count))], nil)
            return [page]
        }
        try await withOneWorker("last-chunk", wsgi: app) { server, path, _ in
            let connectionsBefore = server.status.acceptedConnections
            let responses = try await offPool { () -> [[FastCGIRecord]] in
                let connection = try RawConnection(unixPath: path)
                return (1...2).map { id in
                    connection.send(
                        FastCGIWire.request(id: UInt16(id), keepConnection: true, params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/page")])
                    )
                    return connection.readRecords()
                }
            }
            for (index, records) in responses.enumerated() {
                let id = UInt16(index + 1)
                #expect(records.allSatisfy { $0.id == id })
                #expect(records.count >= 3)
                let data = records.dropLast(2)
                #expect(data.allSatisfy { $0.type == 6 && !$0.content.isEmpty })
                let content = data.flatMap(\.content)
                #expect(content.starts(with: Array("Status: 200 OK\r\n".utf8)))
                #expect(content.dropLast(page.count).suffix(4).elementsEqual(Array("\r\n\r\n".utf8)))
                #expect(content.suffix(page.count).elementsEqual(page))
                #expect(records.dropLast().last.map { $0.type == 6 && $0.content.isEmpty } == true)
                #expect(records.last?.type == 3)
                #expect(records.last?.content == [0, 0, 0, 0, 0, 0, 0, 0])
            }
            #expect(server.status.acceptedConnections - connectionsBefore == 1)
        }
    }

    @Test("A kept connection: two requests on one connection, then garbage closes it; the worker serves on")
    func keptConnectionThenGarbage() async throws {
        try await withOneWorker("kept") { server, path, directory in
            let connectionsBefore = server.status.acceptedConnections
            let (first, second, afterGarbage) = try await offPool { () -> (String, String, Int) in
                let connection = try RawConnection(unixPath: path)
                connection.send(FastCGIWire.request(id: 1, keepConnection: true, params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/one")]))
                let first = String(decoding: connection.readResponse().stdout, as: UTF8.self)
                connection.send(FastCGIWire.request(id: 2, keepConnection: true, params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/two")]))
                let second = String(decoding: connection.readResponse().stdout, as: UTF8.self)
                connection.send(Array("garbage garbage".utf8))
                return (first, second, connection.readAll().count)
            }
            #expect(first.contains("\"PATH_INFO\":\"\\/one\"") || first.contains("\"PATH_INFO\":\"/one\""))
            #expect(second.contains("\"PATH_INFO\":\"\\/two\"") || second.contains("\"PATH_INFO\":\"/two\""))
            #expect(afterGarbage == 0)
            #expect(server.status.acceptedConnections - connectionsBefore == 1)
            #expect(try await cgiFcgi(path, environment: cgiRequest("/three"), in: directory).output.hasPrefix("Status: 200 OK"))
        }
    }

    @Test("A silent connection holds a worker only until the read timeout")
    func silentConnection() async throws {
        let configure: (inout FastCGIConfiguration) -> Void = { $0.readTimeout = .milliseconds(300) }
        try await withOneWorker("silent", configure: configure) { _, path, directory in
            let silent = try RawConnection(unixPath: path)
            let next = try await cgiFcgi(path, environment: cgiRequest("/after-silence"), in: directory)
            #expect(next.output.hasPrefix("Status: 200 OK"))
            _ = silent
        }
    }

    @Test(
        "An application that fails after its response started: what it wrote goes out, no FCGI_END_REQUEST, so the web server sees the response cut"
    )
    func failureAfterStartCutsTheResponse() async throws {
        let app = WSGIApp { _, startResponse in
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            var sent = false
            return WSGIClosureBody(next: {
                guard !sent else { throw TestFailure("fails midway") }
                sent = true
                return Array("partial".utf8)
            })
        }
        try await withOneWorker("cut", wsgi: app) { _, path, directory in
            let records = FastCGIRecord.parse(
                try await exchange(path: path, FastCGIWire.request(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/cut")]))
            )
            let stdout = String(decoding: records.filter { $0.type == 6 }.flatMap(\.content), as: UTF8.self)
            #expect(stdout.hasPrefix("Status: 200 OK"))
            #expect(stdout.hasSuffix("partial"))
            #expect(!records.contains { $0.type == 3 }, "FCGI_END_REQUEST was sent: \(records.map(\.type))")
            #expect(try await cgiFcgi(path, environment: cgiRequest("/after"), in: directory).output.hasPrefix("Status: 200 OK"))
        }
    }
}
