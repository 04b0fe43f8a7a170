import AsyncBridge
import Foundation
import Synchronization
import TestSupport
import Testing

@_spi(ASGIFrontend) @testable import ASGI

/// What a blocking server saw from an application: status, headers, written chunks and threads.
final class CapturedResponse: @unchecked Sendable {
    var status: String?
    var headers: [(String, String)] = []
    var chunks: [[UInt8]] = []
    var threads: Set<UInt> = []

    var startResponse: StartResponse {
        { [self] status, headers, _ in
            self.status = status
            self.headers = headers
            threads.insert(UInt(pthread_self()))
            return { [self] chunk in
                threads.insert(UInt(pthread_self()))
                chunks.append(chunk)
            }
        }
    }
}

/// Runs `body` on a new plain thread (as a blocking server's worker) and returns its result.
func onWorkerThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// An input source that records the threads it is read on.
final class ThreadRecordingInput: WSGIInputSource, @unchecked Sendable {
    private let bytes: [UInt8]
    private var offset = 0
    private(set) var threads: Set<UInt> = []
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func read(upTo maxBytes: Int) throws -> [UInt8] {
        threads.insert(UInt(pthread_self()))
        let end = min(bytes.count, offset + maxBytes)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}

/// An ASGI app that echoes the request body in two chunks.
let echoApp = ASGIApp { scope, receive, send in
    guard case .http = scope else { return }
    var body: [UInt8] = []
    while case .httpRequest(let chunk, let more) = try await receive() {
        body += chunk
        if !more { break }
    }
    try await send(.httpResponseStart(status: 201, headers: [("content-type", "application/octet-stream")]))
    let half = body.count / 2
    try await send(.httpResponseBody(body: Array(body[..<half]), moreBody: true))
    try await send(.httpResponseBody(body: Array(body[half...]), moreBody: false))
}

@Suite("ASGIToWSGI")
struct ASGIToWSGITests {
    /// An async app runs under a blocking server: body in, streamed body out, all stdin reads and
    /// stdout writes on the worker thread itself.
    @Test func echoesOnTheWorkerThread() async throws {
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0) }
        let input = ThreadRecordingInput(payload)
        let captured = CapturedResponse()
        let worker = try await onWorkerThread { () throws -> UInt in
            let environ = Environ(
                variables: ["REQUEST_METHOD": "POST", "PATH_INFO": "/echo", "CONTENT_LENGTH": String(payload.count)],
                input: WSGIInput(input)
            )
            var body = try ASGIToWSGI(echoApp, chunkSize: 16 * 1024)(environ, captured.startResponse)
            #expect(try body.next() == nil)
            return UInt(pthread_self())
        }
        #expect(captured.status == "201 Created")
        #expect(captured.headers.first?.0 == "content-type")
        #expect(captured.chunks.count == 2)
        #expect(captured.chunks.flatMap { $0 } == payload)
        #expect(captured.threads == [worker])
        #expect(input.threads == [worker])
    }

    /// A chunked upload without CONTENT_LENGTH is read to its end.
    @Test func inputWithoutContentLengthIsReadToTheEnd() async throws {
        let payload = Array(repeating: UInt8(7), count: 100_000)
        let captured = CapturedResponse()
        try await onWorkerThread {
            let environ = Environ(variables: ["REQUEST_METHOD": "POST", "PATH_INFO": "/"], input: WSGIInput(bytes: payload))
            _ = try ASGIToWSGI(echoApp, chunkSize: 4096)(environ, captured.startResponse)
        }
        #expect(captured.chunks.flatMap { $0 } == payload)
    }

    /// An app that calls receive after its response gets `http.disconnect` at once (no hang).
    @Test func receiveAfterTheResponseIsDisconnect() async throws {
        let after = Recorder<ReceiveEvent>()
        let app = ASGIApp { _, receive, send in
            _ = try await receive()
            try await send(.httpResponseStart(status: 200))
            try await send(.httpResponseBody(body: bytes("done")))
            after.append(try await receive())
        }
        let captured = CapturedResponse()
        try await onWorkerThread {
            _ = try ASGIToWSGI(app)(Environ(variables: ["REQUEST_METHOD": "GET"]), captured.startResponse)
        }
        #expect(after.values == [.httpDisconnect])
        #expect(captured.chunks == [bytes("done")])
    }

    /// a2wsgi's bug, the other way round: an application that watches `receive()` for a disconnect
    /// while it streams (Starlette's StreamingResponse) keeps streaming once the body is read; the
    /// watcher gets `http.disconnect` only when the response is complete.
    @Test func noDisconnectJustBecauseTheBodyWasRead() async throws {
        let seen = Recorder<String>()
        let app = ASGIApp { _, receive, send in
            while case .httpRequest(_, let more) = try await receive(), more {}
            try await send(.httpResponseStart(status: 200))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let event = try await receive()
                    seen.append("watcher: \(event.type)")
                }
                for index in 0..<3 {
                    try await send(.httpResponseBody(body: bytes("chunk \(index)\n"), moreBody: true))
                    seen.append("sent \(index)")
                }
                try await send(.httpResponseBody(body: bytes("end\n")))
                seen.append("sent end")
                try await group.waitForAll()
            }
        }
        let captured = CapturedResponse()
        try await onWorkerThread {
            let environ = Environ(variables: ["REQUEST_METHOD": "POST", "CONTENT_LENGTH": "4"], input: WSGIInput(bytes: bytes("body")))
            _ = try ASGIToWSGI(app)(environ, captured.startResponse)
        }
        #expect(seen.values == ["sent 0", "sent 1", "sent 2", "sent end", "watcher: http.disconnect"])
        #expect(captured.chunks.flatMap { $0 }.text == "chunk 0\nchunk 1\nchunk 2\nend\n")
    }

    /// When the server says the client is gone (a package server's hook), the watcher gets
    /// `http.disconnect` while the response is still streaming, and the next send throws
    /// `ClientDisconnectedError`.
    @Test func disconnectWhenTheServerSaysTheClientIsGone() async throws {
        let gone = Mutex<(@Sendable () -> Void)?>(nil)
        let registered = Gate()
        let outcome = Recorder<String>()
        let app = ASGIApp { _, receive, send in
            _ = try await receive()
            try await send(.httpResponseStart(status: 200))
            try await send(.httpResponseBody(body: bytes("first"), moreBody: true))
            let event = try await receive()
            outcome.append("watcher: \(event.type)")
            do {
                try await send(.httpResponseBody(body: bytes("late"), moreBody: true))
            } catch is ClientDisconnectedError {
                outcome.append("send threw ClientDisconnectedError")
            }
        }
        let captured = CapturedResponse()
        async let served: Void = onWorkerThread {
            var environ = Environ(variables: ["REQUEST_METHOD": "GET"])
            environ.serverHooks = WSGIServerHooks(
                completeResponse: {},
                onClientGone: { handler in
                    gone.withLock { $0 = handler }
                    registered.open()
                }
            )
            _ = try? ASGIToWSGI(app)(environ, captured.startResponse)
        }
        // The waiting receive() registers with the server before it waits.
        await registered.wait()
        gone.withLock { $0 }?()
        try await served
        #expect(outcome.values == ["watcher: http.disconnect", "send threw ClientDisconnectedError"])
        #expect(captured.chunks == [bytes("first")])
    }

    /// The scope is built from the environ: method, SCRIPT_NAME/PATH_INFO, query, headers, addresses.
    @Test func scopeFromEnviron() async throws {
        let scopes = Recorder<String>()
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            scopes.append(
                "\(http.method) \(http.rootPath) \(http.path) \(String(latin1: http.queryString)) \(http.headers["x-token"] ?? "-") \(http.client?.host ?? "-"):\(http.client?.port ?? 0)"
            )
            try await send(.httpResponseStart(status: 204))
            try await send(.httpResponseBody())
        }
        let captured = CapturedResponse()
        try await onWorkerThread {
            let environ = Environ(variables: [
                "REQUEST_METHOD": "PUT", "SCRIPT_NAME": "/app", "PATH_INFO": "/items/1", "QUERY_STRING": "a=1",
                "HTTP_X_TOKEN": "t", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "5000", "SERVER_NAME": "localhost", "SERVER_PORT": "8080",
            ])
            _ = try ASGIToWSGI(app)(environ, captured.startResponse)
        }
        #expect(scopes.values == ["PUT /app /app/items/1 a=1 t 127.0.0.1:5000"])
        #expect(captured.status == "204 No Content")
    }

    /// An app that ends without a complete response is a clear error.
    @Test func incompleteResponseIsAnError() async throws {
        let app = ASGIApp { _, _, send in
            try await send(.httpResponseStart(status: 200))
        }
        await #expect(throws: ASGIProtocolError.self) {
            try await onWorkerThread {
                _ = try ASGIToWSGI(app)(Environ(variables: [:]), CapturedResponse().startResponse)
            }
        }
    }

    /// A task the application left behind that sends after the application returned gets an
    /// error, and nothing it sends reaches the server: `startResponse` and `write` belong to the
    /// server's thread, which has moved on (they used to run on the bridge's sensitive thread,
    /// racing with the server).
    @Test func sendFromATaskThatOutlivedTheApplicationIsRefused() async throws {
        let release = Gate()
        let sent = Gate()
        let outcomes = Recorder<String>()
        let app = ASGIApp { _, _, send in
            try await send(.httpResponseStart(status: 200))
            Task {
                await release.wait()
                do {
                    try await send(.httpResponseBody(body: [1, 2, 3], moreBody: false))
                    outcomes.append("sent")
                } catch is ASGIProtocolError {
                    outcomes.append("refused")
                } catch {
                    outcomes.append("failed: \(error)")
                }
                sent.open()
            }
        }
        let captured = CapturedResponse()
        await #expect(throws: ASGIProtocolError.self) {
            try await onWorkerThread {
                _ = try ASGIToWSGI(app)(Environ(variables: [:]), captured.startResponse)
            }
        }
        release.open()
        #expect(await sent.wait())
        #expect(outcomes.values == ["refused"])
        #expect(captured.status == nil)
        #expect(captured.chunks.isEmpty)
    }

    /// Called from inside a task it refuses, as every `asyncToSync` does.
    @Test func refusesInsideATask() async throws {
        #expect(throws: BridgeError.asyncToSyncInAsyncContext) {
            _ = try ASGIToWSGI(echoApp)(Environ(variables: [:]), CapturedResponse().startResponse)
        }
    }
}
