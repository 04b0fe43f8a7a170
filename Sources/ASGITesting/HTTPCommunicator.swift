@_spi(ASGIFrontend) import ASGI
import AsyncBridge

/// Sends one HTTP request to an ASGI application in a test and gathers the response.
///
/// ```swift
/// let communicator = HTTPCommunicator(application: app, method: "POST", path: "/echo?x=1", body: Array("hi".utf8))
/// let response = try await communicator.getResponse()
/// #expect(response.status == 200)
/// #expect(response.text == "hi")
/// ```
///
/// The scope is built the way a server builds it from a request line: `path` is split at `?`,
/// percent-decoded into `path` and kept encoded in `rawPath`; characters a client would escape
/// (spaces, non-ASCII) are escaped first. Like an HTTP client, it adds a `host` header (from
/// `server`) and a `content-length` header (for a non-empty body) when they are missing. The body
/// is queued at once as `http.request` events of at most `chunkSize` bytes, the last with
/// `moreBody: false`. Once the response is complete, the application's `receive()` returns
/// `http.disconnect`. The response is held to the rules every server of the package applies (a
/// status from 100 to 599, header fields HTTP can carry, a well-formed `Content-Length`): a breach
/// throws `ASGIProtocolError` from ``getResponse(timeout:)``.
public final class HTTPCommunicator: Sendable {
    /// The scope the application was called with.
    public let scope: HTTPScope
    /// The communicator running the application, for lower-level checks.
    public let communicator: ApplicationCommunicator

    /// Starts `application` with a request and queues the request body.
    /// - Parameters:
    ///   - application: The application under test.
    ///   - method: The request method (upper-cased in the scope).
    ///   - path: The request target: a path that includes `rootPath`, optionally with `?query`.
    ///   - body: The request body.
    ///   - headers: The request headers.
    ///   - queryString: The query string (without `?`); replaces a query in `path` if given.
    ///   - rootPath: Where the application is mounted.
    ///   - scheme: `"http"` or `"https"`.
    ///   - httpVersion: `"1.0"`, `"1.1"` or `"2"`.
    ///   - client: The client's address.
    ///   - server: The server's address; also the `host` header's value when none is given.
    ///   - chunkSize: The largest `http.request` body chunk (at least 1 byte).
    ///   - state: The lifespan state a server would copy into the scope (the communicator runs no
    ///     lifespan of its own).
    public init(
        application: any ASGIApplication,
        method: String = "GET",
        path: String,
        body: [UInt8] = [],
        headers: ASGIHeaders = [],
        queryString: String? = nil,
        rootPath: String = "",
        scheme: String = "http",
        httpVersion: String = "1.1",
        client: ASGIAddress? = ASGIAddress(host: "127.0.0.1", port: 50000),
        server: ASGIAddress? = ASGIAddress(host: "testserver", port: 80),
        chunkSize: Int = ServerDefaults.chunkSize,
        state: [String: ASGIValue]? = nil
    ) {
        precondition(chunkSize > 0, "chunkSize must be at least 1")
        let target = RequestTarget(testTarget: path, queryString: queryString)
        var headers = headers
        if headers["host"] == nil {
            headers.append("host", Self.hostHeader(server: server, scheme: scheme))
        }
        if !body.isEmpty, headers["content-length"] == nil, headers["transfer-encoding"] == nil {
            headers.append("content-length", String(body.count))
        }
        let scope = ASGIRequestHead(
            method: method.uppercased(),
            httpVersion: httpVersion,
            scheme: scheme,
            target: target,
            rootPath: rootPath,
            headers: headers,
            client: client,
            server: server
        ).httpScope(state: state, extensions: nil)
        self.scope = scope
        self.communicator = ApplicationCommunicator(application: application, scope: .http(scope))

        var start = 0
        repeat {
            let end = min(start + chunkSize, body.count)
            communicator.enqueueInput(.httpRequest(body: Array(body[start..<end]), moreBody: end < body.count))
            start = end
        } while start < body.count
    }

    /// The application's complete response: status, headers, body and trailers.
    ///
    /// If it is not complete within `timeout`, the application is cancelled.
    /// - Throws: The application's error if it failed; `TimeoutError` if the response did not
    ///   complete in time; ``CommunicatorError/applicationFinished`` if the application returned
    ///   without completing it.
    public func getResponse(timeout: Duration = .seconds(1)) async throws -> TestResponse {
        do {
            let method = scope.method
            return try await withTimeout(timeout) { [communicator] in try await Self.gatherResponse(communicator, method: method) }
        } catch let error as TimeoutError {
            communicator.cancel()
            throw error
        }
    }

    /// Waits up to `timeout` for the application to finish; see ``ApplicationCommunicator/wait(timeout:)``.
    public func wait(timeout: Duration = .seconds(1)) async throws {
        try await communicator.wait(timeout: timeout)
    }

    /// Reads response events until the response is complete. The communicator has already checked
    /// their order, so only the shape is looked at here; the body is what a server would send
    /// (none for `HEAD` and bodiless statuses, never past the declared `Content-Length`).
    private static func gatherResponse(_ communicator: ApplicationCommunicator, method: String) async throws -> TestResponse {
        let first = try await communicator.nextOutput()
        guard case .httpResponseStart(let status, let headers, let trailers) = first else {
            throw CommunicatorError.unexpectedEvent(first, expected: "'http.response.start'")
        }
        // The rules every server of the package holds a response to.
        var framing = try ResponseFraming.checkingStart(status: status, headers: headers, requestMethod: method, event: first)
        var response = TestResponse(status: status, headers: headers)
        while true {
            let event = try await communicator.nextOutput()
            switch event {
            case .httpResponseBody(let body, let moreBody):
                response.body += body.prefix(framing.admit(body.count))
                if !moreBody && !trailers { return response }
            case .httpResponsePathsend(let path):
                response.pathsend = path
                if !trailers { return response }
            case .httpResponseTrailers(let headers, let moreTrailers):
                response.trailers.elements += headers.elements
                if !moreTrailers { return response }
            default:
                throw CommunicatorError.unexpectedEvent(event, expected: "an HTTP response event")
            }
        }
    }

    /// `host[:port]`, the port left out when it is the scheme's default.
    private static func hostHeader(server: ASGIAddress?, scheme: String) -> String {
        guard let server else { return "testserver" }
        let defaultPort = scheme == "https" ? 443 : 80
        guard let port = server.port, port != defaultPort else { return server.host }
        return "\(server.host):\(port)"
    }
}
