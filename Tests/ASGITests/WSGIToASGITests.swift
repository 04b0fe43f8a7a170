import ASGI
import ASGITesting
import AsyncBridge
import Foundation
import TestSupport
import Testing

@Suite("WSGIToASGI")
struct WSGIToASGITests {
    /// Ports asgiref `test_basic_wsgi`: repeated request headers are joined with ","; response
    /// header names are lower-cased, values kept; the body arrives complete.
    @Test func basicRequestAndResponse() async throws {
        let environs = Recorder<[String: String]>()
        let app = WSGIToASGI(recordingApp(environs, chunks: [bytes("Hello "), bytes("World!")], headers: [("X-Colour", "Blue")]))
        let response = try await HTTPCommunicator(
            application: app,
            method: "GET",
            path: "/foo/",
            headers: [("test-header", "test value 1"), ("test-header", "test value 2")]
        ).getResponse(timeout: .seconds(60))
        #expect(response.status == 200)
        #expect(response.headers.elements.contains(ASGIHeader(name: bytes("x-colour"), value: bytes("Blue"))))
        #expect(response.body.text == "Hello World!")
        let environ = try #require(environs.values.first)
        #expect(environ["HTTP_TEST_HEADER"] == "test value 1,test value 2")
        #expect(environ["REQUEST_METHOD"] == "GET")
        #expect(environ["PATH_INFO"] == "/foo/")
        #expect(environ["SERVER_PROTOCOL"] == "HTTP/1.1")
    }

    /// Ports asgiref `test_script_name`: the root path becomes SCRIPT_NAME, the rest PATH_INFO.
    @Test func scriptNameAndPathInfo() async throws {
        let environs = Recorder<[String: String]>()
        _ = try await HTTPCommunicator(application: WSGIToASGI(recordingApp(environs)), method: "GET", path: "/base/foo/", rootPath: "/base")
            .getResponse(timeout: .seconds(60))
        #expect(environs.values.first?["SCRIPT_NAME"] == "/base")
        #expect(environs.values.first?["PATH_INFO"] == "/foo/")
    }

    /// Ports asgiref `test_wsgi_path_encoding`: non-ASCII paths arrive as their UTF-8 bytes read as
    /// latin-1 (PEP 3333), and round-trip back to the original text.
    @Test func nonASCIIPathsAreLatin1OfUTF8() async throws {
        let environs = Recorder<[String: String]>()
        _ = try await HTTPCommunicator(application: WSGIToASGI(recordingApp(environs)), method: "GET", path: "/中国/中文", rootPath: "/中国").getResponse(
            timeout: .seconds(60)
        )
        let environ = try #require(environs.values.first)
        #expect(environ["SCRIPT_NAME"] == String(latin1: "/中国".utf8))
        #expect(environ["PATH_INFO"] == String(latin1: "/中文".utf8))
        #expect(String(decoding: try #require(environ["PATH_INFO"]?.latin1Bytes), as: UTF8.self) == "/中文")
    }

    /// Ports asgiref `test_wsgi_empty_body`: an empty body still gives a complete response.
    @Test func emptyBody() async throws {
        let response = try await HTTPCommunicator(
            application: WSGIToASGI(
                WSGIApp { _, start in
                    _ = try start("204 No Content", [], nil)
                    return [[UInt8]]()
                }
            ),
            method: "GET",
            path: "/"
        ).getResponse(timeout: .seconds(60))
        #expect(response.status == 204)
        #expect(response.body.isEmpty)
    }

    /// Ports asgiref `test_wsgi_clamped_body` and `test_wsgi_stops_iterating_after_content_length_bytes`:
    /// output is clamped to the app's Content-Length, iteration stops there, and `close()` is called.
    @Test func clampsToContentLengthStopsAndCloses() async throws {
        let pulled = Recorder<Int>()
        let closed = Recorder<Bool>()
        let app = WSGIApp { _, start in
            _ = try start("200 OK", [("Content-Length", "8")], nil)
            let chunks = [bytes("0123"), bytes("45"), bytes("6789"), bytes("never")]
            var index = 0
            return WSGIClosureBody(
                next: {
                    guard index < chunks.count else { return nil }
                    defer { index += 1 }
                    pulled.append(index)
                    return chunks[index]
                },
                close: { closed.append(true) }
            )
        }
        let communicator = HTTPCommunicator(application: WSGIToASGI(app), method: "GET", path: "/")
        let response = try await communicator.getResponse(timeout: .seconds(60))
        // close() runs once the end of the response is sent: wait for the application's end.
        try await communicator.wait(timeout: .seconds(60))
        #expect(response.body.text == "01234567")
        #expect(pulled.values == [0, 1, 2])
        #expect(closed.values == [true])
    }

    /// Ports asgiref `test_wsgi_multiple_start_response`: before any output, `startResponse` with an
    /// error replaces the status and headers (and the old Content-Length no longer clamps).
    @Test func startResponseWithErrorReplacesHeaders() async throws {
        struct Failure: Error {}
        let app = WSGIApp { _, start in
            _ = try start("200 OK", [("Content-Length", "5")], nil)
            _ = try start("500 Internal Server Error", [], Failure())
            return [bytes("Some long error message")]
        }
        let response = try await HTTPCommunicator(application: WSGIToASGI(app), method: "GET", path: "/").getResponse(timeout: .seconds(60))
        #expect(response.status == 500)
        #expect(response.headers.isEmpty)
        #expect(response.body.text == "Some long error message")
    }

    /// PEP 3333: `startResponse` with an error after output started re-raises that error; without an
    /// error a second call is a clear error.
    @Test func startResponseRulesAfterOutput() async throws {
        struct Original: Error, Equatable {}
        let seen = Recorder<String>()
        let app = WSGIApp { _, start in
            let write = try start("200 OK", [], nil)
            do { _ = try start("200 OK", [], nil) } catch let error as WSGIError { seen.append(error.code.description) }
            try write(bytes("partial"))
            do { _ = try start("500 Oops", [], Original()) } catch is Original { seen.append("reraised") }
            return [[UInt8]]()
        }
        let response = try await HTTPCommunicator(application: WSGIToASGI(app), method: "GET", path: "/").getResponse(timeout: .seconds(60))
        #expect(response.body.text == "partial")
        #expect(seen.values == ["startResponseTwice", "reraised"])
    }

    /// Ports asgiref `test_wsgi_multi_body`: a body split over several events is read whole.
    @Test func bodySplitOverEventsIsReadWhole() async throws {
        let read = Recorder<[UInt8]>()
        let app = WSGIApp { environ, start in
            read.append(try environ.input.read())
            _ = try start("200 OK", [], nil)
            return [[UInt8]]()
        }
        _ = try await HTTPCommunicator(application: WSGIToASGI(app), method: "POST", path: "/", body: bytes("Hello World!"), chunkSize: 6)
            .getResponse(timeout: .seconds(60))
        #expect(read.values == [bytes("Hello World!")])
    }

    /// Ports asgiref `test_duplicate_header_limit`: past the limit, 400 without running the app.
    @Test func duplicateHeaderLimit() async throws {
        let environs = Recorder<[String: String]>()
        let headers = ASGIHeaders(Array(repeating: ASGIHeader("x-test", "1"), count: 10))
        let response = try await HTTPCommunicator(
            application: WSGIToASGI(recordingApp(environs), duplicateHeaderLimit: 5),
            method: "GET",
            path: "/",
            headers: headers
        ).getResponse(timeout: .seconds(60))
        #expect(response.status == 400)
        #expect(response.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(response.body.text.hasPrefix("Bad Request: Too many duplicate headers"))
        #expect(environs.values.isEmpty)
    }

    /// Ports asgiref `test_duplicate_header_limit_disabled`.
    @Test func duplicateHeaderLimitDisabled() async throws {
        let environs = Recorder<[String: String]>()
        let headers = ASGIHeaders(Array(repeating: ASGIHeader("x-test", "1"), count: 200))
        let response = try await HTTPCommunicator(
            application: WSGIToASGI(recordingApp(environs), duplicateHeaderLimit: nil),
            method: "GET",
            path: "/",
            headers: headers
        ).getResponse(timeout: .seconds(60))
        #expect(response.status == 200)
        #expect(environs.values.count == 1)
    }

    /// Cookie headers join with "; "; headers with "_" in the name are dropped (no `x_user` spoofing).
    @Test func cookiesJoinAndUnderscoreHeadersAreDropped() async throws {
        let environs = Recorder<[String: String]>()
        let headers: ASGIHeaders = [("cookie", "a=1"), ("cookie", "b=2"), ("x-user", "alice"), ("x_user", "admin")]
        _ = try await HTTPCommunicator(application: WSGIToASGI(recordingApp(environs)), method: "GET", path: "/", headers: headers).getResponse(
            timeout: .seconds(60)
        )
        let environ = try #require(environs.values.first)
        #expect(environ["HTTP_COOKIE"] == "a=1; b=2")
        #expect(environ["HTTP_X_USER"] == "alice")
    }

    /// Latin-1 response header values pass; CR/LF and non-latin-1 are rejected with a clear error
    /// (a 500 since nothing was sent yet).
    @Test func responseHeaderValuesAreLatin1WithoutCRLF() async throws {
        let latin = try await HTTPCommunicator(
            application: WSGIToASGI(
                WSGIApp { _, start in
                    _ = try start("200 OK", [("X-Name", "Zoë")], nil)
                    return [[UInt8]]()
                }
            ),
            method: "GET",
            path: "/"
        ).getResponse(timeout: .seconds(60))
        #expect(latin.headers.elements.first { $0.name == bytes("x-name") }?.value == [0x5A, 0x6F, 0xEB])

        let errors = Recorder<WSGIError.Code>()
        for value in ["a\r\nSet-Cookie: x=1", "snowman ☃"] {
            let response = try await HTTPCommunicator(
                application: WSGIToASGI(
                    WSGIApp { _, start in
                        do { _ = try start("200 OK", [("X-Bad", value)], nil) } catch let error as WSGIError {
                            errors.append(error.code)
                            throw error
                        }
                        return [[UInt8]]()
                    }
                ),
                method: "GET",
                path: "/"
            ).getResponse(timeout: .seconds(60))
            #expect(response.status == 500)
        }
        #expect(errors.values == [.invalidHeader, .invalidHeader])
    }

    /// The application's Content-Length clamps the body (spaces around the digits allowed); a value
    /// that is not a non-negative integer fails startResponse with `invalidHeader` (a 500).
    @Test func applicationContentLength() async throws {
        let clamped = try await HTTPCommunicator(
            application: WSGIToASGI(
                WSGIApp { _, start in
                    _ = try start("200 OK", [("content-LENGTH", " 3\t")], nil)
                    return [bytes("abcdef")]
                }
            ),
            method: "GET",
            path: "/"
        ).getResponse(timeout: .seconds(60))
        #expect(clamped.status == 200)
        #expect(clamped.body == bytes("abc"))

        let errors = Recorder<WSGIError.Code>()
        for value in ["", "-1", "1 2", "0x10", "+5", "99999999999999999999", "٣"] {
            let response = try await HTTPCommunicator(
                application: WSGIToASGI(
                    WSGIApp { _, start in
                        do { _ = try start("200 OK", [("Content-Length", value)], nil) } catch let error as WSGIError {
                            errors.append(error.code)
                            throw error
                        }
                        return [[UInt8]]()
                    }
                ),
                method: "GET",
                path: "/"
            ).getResponse(timeout: .seconds(60))
            #expect(response.status == 500, "Content-Length '\(value)'")
        }
        #expect(errors.values == Array(repeating: .invalidHeader, count: 7))
    }

    /// A bare "200" status is accepted; a malformed one fails clearly.
    @Test func statusParsing() async throws {
        let bare = try await HTTPCommunicator(
            application: WSGIToASGI(
                WSGIApp { _, start in
                    _ = try start("200", [], nil)
                    return [bytes("x")]
                }
            ),
            method: "GET",
            path: "/"
        ).getResponse(timeout: .seconds(60))
        #expect(bare.status == 200)
        let codes = Recorder<WSGIError.Code>()
        for status in ["OK", "20", "2000 Big", "200OK"] {
            _ = try await HTTPCommunicator(
                application: WSGIToASGI(
                    WSGIApp { _, start in
                        do { _ = try start(status, [], nil) } catch let error as WSGIError {
                            codes.append(error.code)
                            throw error
                        }
                        return [[UInt8]]()
                    }
                ),
                method: "GET",
                path: "/"
            ).getResponse(timeout: .seconds(60))
        }
        #expect(codes.values == Array(repeating: .invalidStatus, count: 4))
    }

    /// The `write` callable sends output immediately, before the returned body.
    @Test func writeCallableWorks() async throws {
        let response = try await HTTPCommunicator(
            application: WSGIToASGI(
                WSGIApp { _, start in
                    let write = try start("200 OK", [], nil)
                    try write(bytes("written "))
                    return [bytes("returned")]
                }
            ),
            method: "GET",
            path: "/"
        ).getResponse(timeout: .seconds(60))
        #expect(response.body.text == "written returned")
    }

    /// An error before the response started becomes a 500 (and `close()` still runs).
    @Test func errorBeforeStartIs500AndCloses() async throws {
        struct Boom: Error {}
        let closed = Recorder<Bool>()
        let app = WSGIApp { _, start in
            _ = try start("200 OK", [], nil)
            return WSGIClosureBody(next: { throw Boom() }, close: { closed.append(true) })
        }
        let communicator = HTTPCommunicator(application: WSGIToASGI(app), method: "GET", path: "/")
        let response = try await communicator.getResponse(timeout: .seconds(60))
        // close() runs once the 500 is sent: the application's end is the event to wait for.
        try await communicator.wait(timeout: .seconds(60))
        #expect(response.status == 500)
        #expect(closed.values == [true])
    }

    /// An error after output started fails the ASGI call (the server aborts the connection) and
    /// `close()` still runs.
    @Test func errorAfterStartFailsTheCallAndCloses() async throws {
        struct Boom: Error {}
        let closed = Recorder<Bool>()
        let app = WSGIApp { _, start in
            _ = try start("200 OK", [], nil)
            var sent = false
            return WSGIClosureBody(
                next: {
                    if sent { throw Boom() }
                    sent = true
                    return bytes("first")
                },
                close: { closed.append(true) }
            )
        }
        let communicator = ApplicationCommunicator(application: WSGIToASGI(app), scope: .http(HTTPScope(method: "GET", path: "/")))
        try await communicator.sendInput(.httpRequest())
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .httpResponseStart(status: 200))
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .httpResponseBody(body: bytes("first"), moreBody: true))
        await #expect(throws: Boom.self) { try await communicator.wait(timeout: .seconds(60)) }
        #expect(closed.values == [true])
    }

    /// A declared body over the limit is refused with 413 before the app runs, and so is a streamed
    /// one that grows past it while it is read ahead; past the read-ahead, it fails the app's read
    /// and becomes a 413.
    @Test func oversizeBodiesGet413() async throws {
        let ran = Recorder<Bool>()
        let app = WSGIApp { environ, start in
            ran.append(true)
            _ = try environ.input.read()
            _ = try start("200 OK", [], nil)
            return [[UInt8]]()
        }
        let declared = try await HTTPCommunicator(
            application: WSGIToASGI(app, maxRequestBodyBytes: 10),
            method: "POST",
            path: "/",
            body: Array(repeating: 1, count: 11),
            headers: [("content-length", "11")]
        ).getResponse(timeout: .seconds(60))
        #expect(declared.status == 413)
        #expect(ran.values.isEmpty)
        let streamed = try await HTTPCommunicator(
            application: WSGIToASGI(app, maxRequestBodyBytes: 10),
            method: "POST",
            path: "/",
            body: Array(repeating: 1, count: 30),
            headers: [("transfer-encoding", "chunked")],
            chunkSize: 4
        ).getResponse(timeout: .seconds(60))
        #expect(streamed.status == 413)
        #expect(ran.values.isEmpty)
        let pastPrefetch = try await HTTPCommunicator(
            application: WSGIToASGI(app, maxRequestBodyBytes: 10, bodyPrefetchBytes: 4),
            method: "POST",
            path: "/",
            body: Array(repeating: 1, count: 30),
            headers: [("transfer-encoding", "chunked")],
            chunkSize: 4
        ).getResponse(timeout: .seconds(60))
        #expect(pastPrefetch.status == 413)
        #expect(ran.values.count == 1)
    }

    /// A small body is read before the application takes a blocking thread, so the application
    /// finds it whole in `wsgi.input`; a larger one starts with the read-ahead and streams on.
    @Test func smallBodyIsReadAhead() async throws {
        let sizes = Recorder<Int>()
        let app = WSGIApp { environ, start in
            sizes.append(try environ.input.read().count)
            _ = try start("200 OK", [], nil)
            return [[UInt8]]()
        }
        for (size, prefetch) in [(5, 64), (300, 64), (300, 0)] {
            let response = try await HTTPCommunicator(
                application: WSGIToASGI(app, bodyPrefetchBytes: prefetch),
                method: "POST",
                path: "/",
                body: Array(repeating: 7, count: size),
                headers: [("content-length", String(size))],
                chunkSize: 16
            ).getResponse(timeout: .seconds(60))
            #expect(response.status == 200)
        }
        #expect(sizes.values == [5, 300, 300])
    }

    /// A client disconnect while the app reads the body is an error on the read, never a silent end;
    /// `close()` runs.
    @Test func disconnectWhileReadingIsAnError() async throws {
        let readError = Recorder<ClientDisconnectedError.Code>()
        let closed = Recorder<Bool>()
        let app = WSGIApp { environ, start in
            do { _ = try environ.input.read() } catch let error as ClientDisconnectedError {
                readError.append(error.code)
                throw error
            }
            _ = try start("200 OK", [], nil)
            return WSGIClosureBody(next: { nil }, close: { closed.append(true) })
        }
        let communicator = ApplicationCommunicator(application: WSGIToASGI(app), scope: .http(HTTPScope(method: "POST", path: "/")))
        try await communicator.sendInput(.httpRequest(body: bytes("part"), moreBody: true))
        try await communicator.sendInput(.httpDisconnect)
        try await communicator.wait(timeout: .seconds(60))
        #expect(readError.values == [.connectionClosed])
    }

    /// A client that goes away while a response streams stops the iteration and `close()` runs.
    @Test func disconnectWhileStreamingStopsIterationAndCloses() async throws {
        let closed = Recorder<Bool>()
        let pulled = Recorder<Int>()
        let app = WSGIApp { _, start in
            _ = try start("200 OK", [], nil)
            var count = 0
            return WSGIClosureBody(
                next: {
                    count += 1
                    pulled.append(count)
                    return Array(repeating: 0x61, count: 64 * 1024)
                },
                close: { closed.append(true) }
            )
        }
        try await WSGIToASGI(app)(
            scope: .http(HTTPScope(method: "GET", path: "/")),
            receive: { .httpRequest() },
            send: { event in
                if case .httpResponseBody = event { throw ClientDisconnectedError.connectionClosed }
            }
        )
        #expect(closed.values == [true])
        #expect(pulled.values.count < 100)
    }

    /// Four concurrent slow requests overlap (asgiref runs them one at a time: 1.2 s vs 0.3 s).
    @Test func concurrentRequestsOverlap() async throws {
        let arrived = Recorder<Int>()
        let allThere = Gate()
        let app = WSGIApp { _, start in
            arrived.append(1)
            if arrived.values.count == 4 { allThere.open() }
            allThere.waitBlocking()  // each request waits until all four are running at once
            _ = try start("200 OK", [], nil)
            return [bytes("done")]
        }
        let wrapped = WSGIToASGI(app)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask { try await HTTPCommunicator(application: wrapped, method: "GET", path: "/").getResponse(timeout: .seconds(60)).status }
            }
            for try await status in group { #expect(status == 200) }
        }
    }

    /// `threadSensitive: true` keeps one request's blocking calls on one thread.
    @Test func threadSensitiveKeepsPerRequestAffinity() async throws {
        let threads = Recorder<[UInt]>()
        let app = WSGIApp { _, start in
            let first = UInt(pthread_self())
            let second = try AsyncToSync.run { try await SyncToAsync.run { UInt(pthread_self()) } }
            threads.append([first, second])
            _ = try start("200 OK", [], nil)
            return [[UInt8]]()
        }
        _ = try await HTTPCommunicator(application: WSGIToASGI(app, threadSensitive: true), method: "GET", path: "/").getResponse(
            timeout: .seconds(60)
        )
        let pair = try #require(threads.values.first)
        #expect(pair[0] == pair[1])
    }

    /// A 1,000-chunk body is sent as far fewer events than chunks: chunks produced while an event is
    /// being sent go out together.
    @Test func smallChunksAreBatched() async throws {
        let chunks = (0..<1_000).map { _ in bytes("x") }
        let produced = Gate()
        let events = Recorder<Int>()
        let batching = WSGIToASGI(
            WSGIApp { _, start in
                _ = try start("200 OK", [], nil)
                var remaining = chunks
                return WSGIClosureBody(next: { remaining.isEmpty ? nil : remaining.removeFirst() }, close: { produced.open() })
            }
        )
        var body: [UInt8] = []
        let collected = Recorder<[UInt8]>()
        try await batching(
            scope: .http(HTTPScope()),
            receive: { .httpRequest() },
            send: { event in
                if case .httpResponseBody(let bytes, _) = event {
                    events.append(1)
                    collected.append(bytes)
                    // Hold the first body event until the application has produced everything.
                    if events.values.count == 1 { await produced.wait() }
                }
            }
        )
        body = collected.values.flatMap { $0 }
        #expect(body.count == 1_000)
        #expect(events.values.count <= 3)
    }

    /// Lifespan hooks run on startup and shutdown; a failing startup reports the failure.
    @Test func lifespanHooks() async throws {
        let calls = Recorder<String>()
        let ok = WSGIToASGI(
            WSGIApp { _, _ in [[UInt8]]() },
            lifespan: WSGILifespan(startup: { calls.append("startup") }, shutdown: { calls.append("shutdown") })
        )
        let communicator = ApplicationCommunicator(application: ok, scope: .lifespan(LifespanScope()))
        try await communicator.sendInput(.lifespanStartup)
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .lifespanStartupComplete)
        try await communicator.sendInput(.lifespanShutdown)
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .lifespanShutdownComplete)
        try await communicator.wait(timeout: .seconds(60))
        #expect(calls.values == ["startup", "shutdown"])

        struct NoDatabase: Error {}
        let failing = WSGIToASGI(WSGIApp { _, _ in [[UInt8]]() }, lifespan: WSGILifespan(startup: { throw NoDatabase() }))
        let second = ApplicationCommunicator(application: failing, scope: .lifespan(LifespanScope()))
        try await second.sendInput(.lifespanStartup)
        guard case .lifespanStartupFailed(let message) = try await second.receiveOutput(timeout: .seconds(60)) else {
            Issue.record("expected lifespan.startup.failed")
            return
        }
        #expect(message.contains("NoDatabase"))
    }

    /// WebSocket scopes are refused with a clear error.
    @Test func websocketScopeIsRefused() async throws {
        await #expect(throws: WSGIError.self) {
            try await WSGIToASGI(WSGIApp { _, _ in [[UInt8]]() })(scope: .websocket(WebSocketScope()), receive: { .websocketConnect }, send: { _ in })
        }
    }
}
