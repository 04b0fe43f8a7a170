import ASGI
import ASGITesting
import Foundation
import TestSupport
import Testing

/// `wsgi.file_wrapper` and `http.response.pathsend` through the adapters.
@Suite("File bodies")
struct FileBodyTests {
    /// A temporary file of `count` bytes of a pattern; removed by the caller.
    static func makeFile(_ count: Int) throws -> (path: String, bytes: [UInt8]) {
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let path = NSTemporaryDirectory() + "asgi-file-\(UUID().uuidString).bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, bytes)
    }

    static let fileApp = WSGIApp { environ, startResponse in
        _ = try startResponse("200 OK", [("Content-Type", "application/octet-stream")], nil)
        return try environ.fileWrapper(path: environ["QUERY_STRING"] ?? "", blockSize: 1000)
    }

    @Test("Under a server that offers pathsend, a file body goes out as http.response.pathsend with its length")
    func fileWrapperBecomesPathsend() async throws {
        let (path, _) = try Self.makeFile(10_000)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = Recorder<SendEvent>()
        try await WSGIToASGI(Self.fileApp)(
            scope: .http(HTTPScope(path: "/", queryString: Array(path.utf8), extensions: ["http.response.pathsend": [:]])),
            receive: { .httpRequest() },
            send: { events.append($0) }
        )
        #expect(events.values.map(\.type) == ["http.response.start", "http.response.pathsend"])
        guard case .httpResponseStart(_, let headers, _) = events.values.first else { return }
        #expect(headers["content-length"] == "10000")
        #expect(events.values.last == .httpResponsePathsend(path: path))
    }

    @Test("Without pathsend the file is streamed in blocks and closed; a declared shorter length clamps it")
    func fileWrapperIsStreamed() async throws {
        let (path, bytes) = try Self.makeFile(10_000)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let response = try await HTTPCommunicator(application: WSGIToASGI(Self.fileApp), path: "/?" + path).getResponse(timeout: .seconds(60))
        #expect(response.body == bytes)
        #expect(response.headers["content-length"] == "10000")

        let clamped = WSGIApp { environ, startResponse in
            _ = try startResponse("200 OK", [("Content-Length", "2500")], nil)
            return try environ.fileWrapper(path: path)
        }
        let short = try await HTTPCommunicator(application: WSGIToASGI(clamped), path: "/").getResponse(timeout: .seconds(60))
        #expect(short.body == Array(bytes.prefix(2500)))
    }

    @Test("A missing file is a clear error before the response started: 500")
    func missingFile() async throws {
        let response = try await HTTPCommunicator(application: WSGIToASGI(Self.fileApp), path: "/?/nonexistent/file").getResponse(
            timeout: .seconds(60)
        )
        #expect(response.status == 500)
    }

    @Test("ASGIToWSGI streams an application's pathsend through write, sized by the file")
    func pathsendUnderABlockingServer() async throws {
        let (path, bytes) = try Self.makeFile(150_000)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let app = ASGIApp { _, _, send in
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "application/octet-stream")]))
            try await send(.httpResponsePathsend(path: path))
        }
        let captured = CapturedResponse()
        try await onWorkerThread {
            _ = try ASGIToWSGI(app, chunkSize: 64 * 1024)(Environ(variables: ["REQUEST_METHOD": "GET"]), captured.startResponse)
        }
        #expect(captured.status == "200 OK")
        #expect(captured.headers.contains { $0.0 == "content-length" && $0.1 == "150000" })
        #expect(captured.chunks.count == 3)
        #expect(captured.chunks.flatMap { $0 } == bytes)
    }
}
