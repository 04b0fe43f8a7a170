import ASGITesting
import AsyncBridge
import TestSupport
import Testing

@testable import ASGI

@Suite("HTTPCommunicator")
struct HTTPCommunicatorTests {
    /// Echoes the request body; reports the method and the number of body chunks in headers.
    static let echo = ASGIApp { scope, receive, send in
        guard case .http(let http) = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
        var body: [UInt8] = []
        var chunks = 0
        while case .httpRequest(let chunk, let moreBody) = try await receive() {
            body += chunk
            chunks += 1
            if !moreBody { break }
        }
        try await send(.httpResponseStart(status: 200, headers: [("x-method", http.method), ("x-chunks", "\(chunks)")]))
        try await send(.httpResponseBody(body: body))
    }

    /// The scope is what a server would make of the request line.
    @Test func scopeIsBuiltLikeAServer() throws {
        let communicator = HTTPCommunicator(application: Self.echo, method: "post", path: "/caf%C3%A9/a b?x=1&y=%20")
        let scope = communicator.scope
        #expect(scope.method == "POST")
        #expect(scope.path == "/café/a b")
        #expect(scope.rawPath == Array("/caf%C3%A9/a%20b".utf8))
        #expect(scope.queryString == Array("x=1&y=%20".utf8))
        #expect(scope.headers["host"] == "testserver")
        #expect(scope.headers["content-length"] == nil)
        #expect(scope.client == ASGIAddress(host: "127.0.0.1", port: 50000))

        let explicit = HTTPCommunicator(
            application: Self.echo,
            path: "/mounted/x",
            queryString: "q=1",
            rootPath: "/mounted",
            scheme: "https",
            server: ASGIAddress(host: "example.org", port: 8443)
        )
        #expect(explicit.scope.path == "/mounted/x" && explicit.scope.rootPath == "/mounted")
        #expect(explicit.scope.queryString == Array("q=1".utf8))
        #expect(explicit.scope.headers["host"] == "example.org:8443")
    }

    /// The body goes in chunks of at most `chunkSize`, the last with `moreBody: false`.
    @Test func bodyIsSentInChunks() async throws {
        let small = HTTPCommunicator(application: Self.echo, method: "POST", path: "/", body: Array(0..<10), chunkSize: 4)
        let response = try await small.getResponse(timeout: .seconds(60))
        #expect(response.status == 200)
        #expect(response.body == Array(0..<10))
        #expect(response.headers["x-chunks"] == "3")
        #expect(response.headers["x-method"] == "POST")
        #expect(small.scope.headers["content-length"] == "10")

        let large = Array(repeating: UInt8(7), count: 150_000)
        let byDefault = try await HTTPCommunicator(application: Self.echo, method: "PUT", path: "/", body: large).getResponse(timeout: .seconds(60))
        #expect(byDefault.body == large)
        #expect(byDefault.headers["x-chunks"] == "3")  // 64 KiB + 64 KiB + the rest

        let empty = try await HTTPCommunicator(application: Self.echo, path: "/").getResponse(timeout: .seconds(60))
        #expect(empty.body.isEmpty && empty.headers["x-chunks"] == "1")
    }

    /// After the response is complete, every `receive()` returns `http.disconnect`.
    @Test func receiveAfterResponseIsDisconnect() async throws {
        let received = Recorder<ReceiveEvent>()
        let communicator = HTTPCommunicator(
            application: ASGIApp { _, receive, send in
                received.append(try await receive())
                try await send(.httpResponseStart(status: 200))
                try await send(.httpResponseBody(body: Array("done".utf8)))
                received.append(try await receive())
                received.append(try await receive())
            },
            path: "/"
        )
        #expect(try await communicator.getResponse(timeout: .seconds(60)).text == "done")
        try await communicator.wait(timeout: .seconds(60))
        #expect(received.values == [.httpRequest(), .httpDisconnect, .httpDisconnect])
    }

    /// Streaming bodies are joined; announced trailers are gathered.
    @Test func streamedBodyAndTrailers() async throws {
        let communicator = HTTPCommunicator(
            application: ASGIApp { _, _, send in
                try await send(.httpResponseStart(status: 201, headers: [("content-type", "text/plain")], trailers: true))
                try await send(.httpResponseBody(body: Array("hello".utf8), moreBody: true))
                try await send(.httpResponseBody(body: Array(" world".utf8)))
                try await send(.httpResponseTrailers(headers: [("x-checksum", "abc")]))
            },
            path: "/"
        )
        let response = try await communicator.getResponse(timeout: .seconds(60))
        #expect(response.status == 201)
        #expect(response.headers["content-type"] == "text/plain")
        #expect(response.text == "hello world")
        #expect(response.trailers == [("x-checksum", "abc")])
    }

    /// No complete response in time: `TimeoutError`, and the application is cancelled.
    @Test func getResponseTimesOut() async throws {
        let communicator = HTTPCommunicator(
            application: ASGIApp { _, receive, send in
                _ = try await receive()
                try await send(.httpResponseStart(status: 200))
                _ = try await receive()  // nothing comes: the response is not complete
            },
            path: "/"
        )
        await #expect(throws: TimeoutError.self) { try await communicator.getResponse(timeout: .milliseconds(10)) }
        try await communicator.wait(timeout: .seconds(60))
    }

    /// The application's error comes out of `getResponse`.
    @Test func applicationErrorComesOutOfGetResponse() async throws {
        let communicator = HTTPCommunicator(application: ASGIApp { _, _, _ in throw TestError("broken") }, path: "/")
        await #expect(throws: TestError("broken")) { try await communicator.getResponse(timeout: .seconds(60)) }
    }
}
