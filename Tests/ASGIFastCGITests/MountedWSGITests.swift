@_spi(ASGIFrontend) import ASGI
import ASGIFastCGI
import Foundation
import Glibc
import TestSupport
import Testing

/// How the tests mount the WSGI-style pages in the async application.
enum Mounting: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// An async router of the application's own that calls `WSGIToASGI` for `/legacy/` paths.
    case router
    /// `WSGIMount`, which a blocking frontend serves without the ASGI round trip.
    case wsgiMount

    var testDescription: String { rawValue }

    /// The application: `legacy` at `/legacy` (also below nginx's `/stream/` and `/app/`
    /// locations), the async side's thread name everywhere else.
    func application(_ legacy: WSGIToASGI) -> any ASGIApplication {
        switch self {
        case .router:
            return mountingApp(legacy)
        case .wsgiMount:
            // Nested mounts: nginx's /stream/ location passes the whole path on.
            return WSGIMount("/stream/legacy", legacy, in: WSGIMount("/legacy", legacy, in: threadNameApp))
        }
    }
}

/// Answers every HTTP request with the name of the thread it runs on.
private let threadNameApp = ASGIApp { scope, _, send in
    guard case .http = scope else { return }
    try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
    try await send(.httpResponseBody(body: Array(currentThreadName().utf8), moreBody: false))
}

/// An async application with a WSGI-style one mounted at `/legacy` through `WSGIToASGI` by a
/// router of its own; every other path is answered by the async side itself with its own
/// thread's name.
private func mountingApp(_ legacy: WSGIToASGI) -> ASGIApp {
    ASGIApp { scope, receive, send in
        guard case .http(let http) = scope else { return }
        if let mount = http.path.range(of: "/legacy/") {
            // Below /legacy/ (also behind nginx's /stream/ location).
            var mounted = http
            mounted.rootPath = http.rootPath + http.path[..<mount.lowerBound] + "/legacy"
            try await legacy(scope: .http(mounted), receive: receive, send: send)
            return
        }
        try await threadNameApp(scope: scope, receive: receive, send: send)
    }
}

/// The mounted WSGI-style pages: `/thread` (the handler's thread name, and the form body's
/// length), `/big` (`count` chunks of 64 KiB, produced as nginx takes them), `/fail` (throws
/// before its response), `/slow` (waits at `gate`).
private func legacyPages(gate: Gate) -> WSGIApp {
    WSGIApp { environ, startResponse in
        switch environ["PATH_INFO"] ?? "" {
        case "/thread":
            let body = try environ.input.read()
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return [Array("\(currentThreadName()) \(body.count)".utf8)]
        case "/environ":
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            let names = ["SCRIPT_NAME", "PATH_INFO", "APP_FLAVOUR"]
            return [Array(names.map { "\($0)=\(environ[$0] ?? "-")" }.joined(separator: " ").utf8)]
        case "/big":
            let count = Int(environ["QUERY_STRING"] ?? "") ?? 1
            _ = try startResponse("200 OK", [("Content-Type", "application/octet-stream"), ("X-Thread", currentThreadName())], nil)
            var index = 0
            return WSGIClosureBody(next: {
                guard index < count else { return nil }
                defer { index += 1 }
                return bigChunk(index)
            })
        case "/fail":
            struct Broken: Error {}
            throw Broken()
        case "/slow":
            gate.waitBlocking()
            _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
            return [Array("late".utf8)]
        default:
            _ = try startResponse("404 Not Found", [("Content-Type", "text/plain")], nil)
            return [Array("no page".utf8)]
        }
    }
}

/// Chunk `index` of `/big`: 64 KiB of one byte that differs from chunk to chunk.
private func bigChunk(_ index: Int) -> [UInt8] {
    [UInt8](repeating: UInt8(truncatingIfNeeded: index &* 37 &+ 1), count: 64 * 1024)
}

/// Whether `body` is exactly chunks `0..<count` of `/big`, in order.
private func isBigBody(_ body: [UInt8], count: Int) -> Bool {
    guard body.count == count * 64 * 1024 else { return false }
    return (0..<count).allSatisfy { index in
        let expected = UInt8(truncatingIfNeeded: index &* 37 &+ 1)
        return body[index * 64 * 1024] == expected && body[(index + 1) * 64 * 1024 - 1] == expected
    }
}

@Suite("A WSGI-style application mounted in an async one, over FastCGI")
struct MountedWSGITests {
    @Test("The mounted handler runs on the FastCGI worker thread that serves the request (no thread switch)", arguments: Mounting.allCases)
    func handlerRunsOnTheWorkerThread(mounting: Mounting) async throws {
        let gate = Gate()
        defer { gate.open() }
        try await withNginxAndServer("mounted-thread", asgi: mounting.application(WSGIToASGI(legacyPages(gate: gate)))) { nginx, _, directory in
            let get = try await curl("\(nginx.url)/legacy/thread", in: directory)
            #expect(get.status == 200)
            #expect(get.text.hasPrefix("fcgi-worker"))
            #expect(get.text.hasSuffix(" 0"))
            let post = try await curl("\(nginx.url)/legacy/thread", ["-d", "text=hello+there"], in: directory)
            #expect(post.status == 200)
            #expect(post.text.hasPrefix("fcgi-worker"))
            #expect(post.text.hasSuffix(" 16"))
            // The async side itself runs there too.
            #expect(try await curl("\(nginx.url)/async", in: directory).text.hasPrefix("fcgi-worker"))
        }
    }

    @Test("A large streamed response from the mounted handler arrives whole", arguments: Mounting.allCases)
    func largeResponse(mounting: Mounting) async throws {
        let gate = Gate()
        defer { gate.open() }
        let count = 160  // 10 MiB, forty times the adapter's output buffer
        try await withNginxAndServer("mounted-big", asgi: mounting.application(WSGIToASGI(legacyPages(gate: gate)))) { nginx, _, directory in
            for location in ["", "/stream"] {
                let response = try await curl("\(nginx.url)\(location)/legacy/big?\(count)", in: directory)
                #expect(response.status == 200)
                #expect(response.header("X-Thread")?.hasPrefix("fcgi-worker") == true)
                #expect(response.body.count == count * 64 * 1024)
                #expect(isBigBody(response.body, count: count))
            }
        }
    }

    @Test("A mounted handler that fails gets a 500, and the next request is served", arguments: Mounting.allCases)
    func failingHandler(mounting: Mounting) async throws {
        let gate = Gate()
        defer { gate.open() }
        try await withNginxAndServer("mounted-fail", asgi: mounting.application(WSGIToASGI(legacyPages(gate: gate)))) { nginx, _, directory in
            #expect(try await curl("\(nginx.url)/legacy/fail", in: directory).status == 500)
            let next = try await curl("\(nginx.url)/legacy/thread", in: directory)
            #expect(next.status == 200)
            #expect(next.text.hasPrefix("fcgi-worker"))
        }
    }

    @Test(
        "A mounted handler that hangs gets a 504 at the request timeout; other requests are served meanwhile and after",
        arguments: Mounting.allCases
    )
    func hangingHandler(mounting: Mounting) async throws {
        let gate = Gate()
        defer { gate.open() }
        let app = mounting.application(WSGIToASGI(legacyPages(gate: gate)))
        let configure: (inout FastCGIConfiguration) -> Void = { $0.requestTimeout = .milliseconds(500) }
        try await withNginxAndServer("mounted-hang", asgi: app, configure: configure) { nginx, server, directory in
            try await onFailure({ gate.open() }) {
                let slow = try await curl("\(nginx.url)/legacy/slow", in: directory)
                #expect(slow.status == 504)
                #expect(server.status.activeWorkers == 1)
                #expect(try await curl("\(nginx.url)/legacy/thread", in: directory).status == 200)
                gate.open()
                try await eventually("the worker freed") { server.status.activeWorkers == 0 }
                #expect(try await curl("\(nginx.url)/legacy/thread", in: directory).status == 200)
            }
        }
    }

    @Test("Through WSGIMount the handler gets the web server's own environ: its SCRIPT_NAME split and its fastcgi_param")
    func mountSeesTheWebServersEnviron() async throws {
        let gate = Gate()
        defer { gate.open() }
        try await withNginxAndServer("mounted-environ", asgi: Mounting.wsgiMount.application(WSGIToASGI(legacyPages(gate: gate)))) {
            nginx,
            _,
            directory in
            // nginx's /app/ location splits the path (SCRIPT_NAME /app) and adds APP_FLAVOUR.
            let response = try await curl("\(nginx.url)/app/legacy/environ", in: directory)
            #expect(response.status == 200)
            #expect(response.text == "SCRIPT_NAME=/app/legacy PATH_INFO=/environ APP_FLAVOUR=blue")
            #expect(try await curl("\(nginx.url)/legacy/environ", in: directory).text == "SCRIPT_NAME=/legacy PATH_INFO=/environ APP_FLAVOUR=-")
            #expect(try await curl("\(nginx.url)/app/other", in: directory).text.hasPrefix("fcgi-worker"))
        }
    }

    @Test("Through WSGIMount, clients that lie about their body, vanish or send too much leave the next request served")
    func mountSurvivesHostileBodies() async throws {
        let gate = Gate()
        defer { gate.open() }
        let app = Mounting.wsgiMount.application(WSGIToASGI(legacyPages(gate: gate), maxRequestBodyBytes: 1000))
        try await withTestDirectory("mounted-hostile") { directory in
            let path = directory.file("app.sock")
            let server = FastCGIServer(
                application: app,
                configuration: FastCGIConfiguration(bind: .unix(path: path), workerThreads: 1),
                logger: CapturedLogs().logger
            )
            try await withServer(server) { _ in
                let responses = try await offPool { () -> [String] in
                    func params(_ length: Int) -> [(String, String)] {
                        [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/legacy/thread"), ("CONTENT_LENGTH", String(length))]
                    }
                    var responses: [String] = []
                    // Declares 900 bytes, sends 100 and ends its stdin.
                    let lying = try RawConnection(unixPath: path)
                    lying.send(FastCGIWire.request(params: params(900), body: [UInt8](repeating: 0x61, count: 100)))
                    let cut = lying.readResponse()
                    responses.append(cut.ended ? "ended: " + String(decoding: cut.stdout, as: UTF8.self) : "cut")
                    // Declares 900 bytes, sends 100 and goes away.
                    do {
                        let vanishing = try RawConnection(unixPath: path)
                        var partial = FastCGIWire.begin()
                        partial += FastCGIWire.record(FastCGIWire.params, params(900).flatMap { FastCGIWire.pair($0.0, $0.1) })
                        partial += FastCGIWire.record(FastCGIWire.params)
                        partial += FastCGIWire.record(FastCGIWire.stdin, [UInt8](repeating: 0x61, count: 100))
                        vanishing.send(partial)
                    }  // closed here
                    // Past the mounted application's limit: refused before it runs.
                    let large = try RawConnection(unixPath: path)
                    large.send(FastCGIWire.request(params: params(3000), body: [UInt8](repeating: 0x61, count: 3000)))
                    responses.append(String(decoding: large.readResponse().stdout, as: UTF8.self))
                    // A normal request on the one worker thread.
                    let normal = try RawConnection(unixPath: path)
                    normal.send(FastCGIWire.request(params: params(5), body: Array("hello".utf8)))
                    responses.append(String(decoding: normal.readResponse().stdout, as: UTF8.self))
                    return responses
                }
                // A body shorter than declared is a client gone: the connection is cut, no page.
                #expect(responses.first == "cut")
                #expect(responses.dropFirst().first?.hasPrefix("Status: 413") == true)
                // The one worker thread survived both and serves the normal request.
                #expect(responses.last == "Status: 200 OK\r\ncontent-type: text/plain\r\n\r\nfcgi-worker-0 5")
            }
        }
    }
}
