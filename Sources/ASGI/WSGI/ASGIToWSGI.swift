import AsyncBridge
import Synchronization

/// Serves an ASGI application as a blocking, WSGI-style one, so an async application runs under a
/// blocking server (the FastCGI frontend's worker threads, a legacy embedding).
///
/// The calling thread becomes the application's sync parent (``AsyncToSync/run(_:)``): the
/// application runs as a task served by this thread, and its `receive()` reads `environ.input` and
/// its `send()` writes through `startResponse`'s `write` back on this very thread, chunk by chunk as
/// they are sent (so streamed responses stream). The request body is read as the application asks
/// for it; a body without `CONTENT_LENGTH` is read to its end. Once the response is complete,
/// `receive()` answers `http.disconnect` at once instead of hanging.
///
/// ```swift
/// let legacyServer = FastCGIServer(application: ASGIToWSGI(myAsyncApp), …)
/// ```
public struct ASGIToWSGI: WSGIApplication {
    /// The wrapped application.
    public let application: any ASGIApplication
    /// Size of the `http.request` chunks read from the input.
    public let chunkSize: Int

    /// Wraps `application`.
    public init(_ application: any ASGIApplication, chunkSize: Int = 64 * 1024) {
        self.application = application
        self.chunkSize = max(1, chunkSize)
    }

    /// Handles one request on the calling (blocking) thread.
    /// - Throws: the application's error; ``ASGIProtocolError`` if it sends events out of order or
    ///   finishes without a response.
    public func callAsFunction(_ environ: Environ, _ startResponse: @escaping StartResponse) throws -> any WSGIBody {
        let scope = Self.scope(from: environ)
        let exchange = Exchange(environ: environ, startResponse: startResponse, chunkSize: chunkSize)
        let application = self.application
        try AsyncToSync.run {
            try await application(
                scope: .http(scope),
                receive: { try await exchange.receive() },
                send: { event in try await exchange.send(event) }
            )
        }
        try exchange.finish()
        return [[UInt8]]()
    }

    /// The ASGI scope of a WSGI environ (the inverse of ``Environ/init(scope:input:errors:duplicateHeaderLimit:)``).
    static func scope(from environ: Environ) -> HTTPScope {
        if let scope = environ.scope { return scope }
        var headers = ASGIHeaders()
        for (key, value) in environ.variables.sorted(by: { $0.key < $1.key }) {
            let name: String
            if key == "CONTENT_TYPE" {
                name = "content-type"
            } else if key == "CONTENT_LENGTH" {
                name = "content-length"
            } else if key.hasPrefix("HTTP_") {
                name = key.dropFirst(5).lowercased().replacingOccurrences("_", "-")
            } else {
                continue
            }
            headers.append(ASGIHeader(name: Array(name.utf8), value: value.latin1Bytes ?? Array(value.utf8)))
        }
        let scriptName = environ["SCRIPT_NAME"] ?? ""
        let pathInfo = environ["PATH_INFO"] ?? ""
        let server = environ["SERVER_NAME"].map { ASGIAddress(host: $0, port: environ["SERVER_PORT"].flatMap { Int($0) }) }
        let client = environ["REMOTE_ADDR"].map { ASGIAddress(host: $0, port: environ["REMOTE_PORT"].flatMap { Int($0) }) }
        let version = environ["SERVER_PROTOCOL"].map { $0.hasPrefix("HTTP/") ? String($0.dropFirst(5)) : "1.1" } ?? "1.1"
        return HTTPScope(
            httpVersion: version,
            method: environ["REQUEST_METHOD"] ?? "GET",
            scheme: environ.urlScheme,
            path: String(decoding: ((scriptName + pathInfo).latin1Bytes ?? []), as: UTF8.self),
            rawPath: environ["REQUEST_URI"].map { Array($0.prefix { $0 != "?" }.utf8) },
            queryString: (environ["QUERY_STRING"] ?? "").latin1Bytes ?? [],
            rootPath: String(decoding: scriptName.latin1Bytes ?? [], as: UTF8.self),
            headers: headers,
            client: client,
            server: server
        )
    }

    /// One request's state, touched from the application's task and the calling thread.
    ///
    /// `startResponse` and `write` are only ever called on the thread that called the application
    /// (through thread-sensitive calls, which the `asyncToSync` on that thread serves), which is what
    /// makes the unchecked conformance sound.
    final class Exchange: @unchecked Sendable {
        private struct State {
            var response = HTTPResponseState()
            var status: Int?
            var headers: ASGIHeaders = []
            var inputDone = false
        }

        private let environ: Environ
        private let startResponse: StartResponse
        private let chunkSize: Int
        private let state: Mutex<State>
        /// The `write` callable, once the response started; only used on the calling thread.
        private var write: Write?

        init(environ: Environ, startResponse: @escaping StartResponse, chunkSize: Int) {
            self.environ = environ
            self.startResponse = startResponse
            self.chunkSize = chunkSize
            self.state = Mutex(State())
        }

        func receive() async throws -> ReceiveEvent {
            let (complete, inputDone) = state.withLock { ($0.response.isComplete, $0.inputDone) }
            if complete || inputDone { return .httpDisconnect }
            let input = environ.input
            let size = chunkSize
            let chunk = try await SyncToAsync.run { try input.read(size) }
            if chunk.isEmpty {
                state.withLock { $0.inputDone = true }
                return .httpRequest(body: [], moreBody: false)
            }
            return .httpRequest(body: chunk, moreBody: true)
        }

        func send(_ event: SendEvent) async throws {
            try state.withLock { try $0.response.validate(event) }
            switch event {
            case .httpResponseStart(let status, let headers, _):
                state.withLock {
                    $0.status = status
                    $0.headers = headers
                }
            case .httpResponseBody(let body, _):
                guard !body.isEmpty else { return }
                try await SyncToAsync.run { [self] in try writeOnCallerThread(body) }
            default:
                break
            }
        }

        /// Starts the WSGI response if needed and writes `body`; on the calling thread.
        private func writeOnCallerThread(_ body: [UInt8]) throws {
            if let write {
                try write(body)
                return
            }
            let (status, headers) = state.withLock { ($0.status, $0.headers) }
            let started = try startResponse(Self.statusLine(status ?? 500), headers.map { ($0.nameString, $0.valueString) }, nil)
            write = started
            try started(body)
        }

        /// After the application returned: start an empty response if nothing was written.
        func finish() throws {
            let (response, status, headers) = state.withLock { ($0.response, $0.status, $0.headers) }
            guard let status else {
                throw ASGIProtocolError("The ASGI application finished without sending 'http.response.start'.")
            }
            guard response.isComplete else {
                throw ASGIProtocolError("The ASGI application finished before its final 'http.response.body'.")
            }
            if write == nil {
                _ = try startResponse(Self.statusLine(status), headers.map { ($0.nameString, $0.valueString) }, nil)
            }
        }

        static func statusLine(_ status: Int) -> String {
            "\(status) \(reasonPhrases[status] ?? "Unknown")"
        }
    }
}

/// Reason phrases for the status line a WSGI server expects.
package let reasonPhrases: [Int: String] = [
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted",
    204: "No Content", 206: "Partial Content", 301: "Moved Permanently", 302: "Found",
    303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
    411: "Length Required", 413: "Content Too Large", 415: "Unsupported Media Type",
    422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
]

extension String {
    fileprivate func replacingOccurrences(_ target: Character, _ replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
