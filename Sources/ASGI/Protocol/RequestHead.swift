/// What a frontend knows of a request once its head is read, in one neutral form: every scope
/// (HTTP and WebSocket, whichever server) is built from it, and every environ from that scope
/// (``Environ/init(scope:input:errors:duplicateHeaderLimit:)``).
@_spi(ASGIFrontend) public struct ASGIRequestHead: Sendable {
    /// The method, as sent (upper case by convention; methods are case-sensitive).
    public var method: String
    /// `"1.0"`, `"1.1"`, `"2"` or `"3"` (see ``httpVersion(major:minor:)``).
    public var httpVersion: String
    /// `"http"` or `"https"`.
    public var scheme: String
    /// The request target, already mounted under ``rootPath`` when the frontend prefixes it.
    public var target: RequestTarget
    /// Where the application is mounted; ``RequestTarget/path`` includes it.
    public var rootPath: String
    /// The request headers, order and repeats kept, names lower-cased.
    public var headers: ASGIHeaders
    /// The client's address, if known.
    public var client: ASGIAddress?
    /// The server's address, if known.
    public var server: ASGIAddress?

    public init(
        method: String,
        httpVersion: String,
        scheme: String,
        target: RequestTarget,
        rootPath: String,
        headers: ASGIHeaders,
        client: ASGIAddress?,
        server: ASGIAddress?
    ) {
        self.method = method
        self.httpVersion = httpVersion
        self.scheme = scheme
        self.target = target
        self.rootPath = rootPath
        self.headers = headers
        self.client = client
        self.server = server
    }

    /// The HTTP scope of the request.
    public func httpScope(state: [String: ASGIValue]?, extensions: [String: [String: ASGIValue]]?) -> HTTPScope {
        HTTPScope(
            httpVersion: httpVersion,
            method: method,
            scheme: scheme,
            path: target.path,
            rawPath: target.rawPath,
            queryString: target.queryString,
            rootPath: rootPath,
            headers: headers,
            client: client,
            server: server,
            state: state,
            extensions: extensions
        )
    }

    /// The WebSocket scope of a handshake request (`ws`/`wss` for `http`/`https`).
    public func webSocketScope(state: [String: ASGIValue]?, extensions: [String: [String: ASGIValue]]?) -> WebSocketScope {
        WebSocketScope(
            httpVersion: httpVersion,
            scheme: scheme == "https" ? "wss" : "ws",
            path: target.path,
            rawPath: target.rawPath,
            queryString: target.queryString,
            rootPath: rootPath,
            headers: headers,
            client: client,
            server: server,
            subprotocols: Self.subprotocols(in: headers),
            state: state,
            extensions: extensions
        )
    }

    /// The subprotocols a WebSocket client offers (`Sec-WebSocket-Protocol`, comma-separated, every
    /// such header), in order.
    public static func subprotocols(in headers: ASGIHeaders) -> [String] {
        var offered: [String] = []
        for value in headers.values(for: "sec-websocket-protocol") {
            for token in value.split(separator: ",") {
                let trimmed = token.trimmingCharacters(in: [" ", "\t"])
                if !trimmed.isEmpty { offered.append(trimmed) }
            }
        }
        return offered
    }

    /// The scope's `http_version` for a protocol version: `"1.0"`, `"1.1"`, `"2"`, `"3"`.
    public static func httpVersion(major: Int, minor: Int) -> String {
        major >= 2 ? String(major) : "\(major).\(minor)"
    }

    /// The scope's `http_version` for a CGI `SERVER_PROTOCOL` (`HTTP/1.1`, `HTTP/2.0`…); `"1.1"`
    /// when it is not `HTTP/…`.
    public static func httpVersion(serverProtocol: some StringProtocol) -> String {
        guard serverProtocol.hasPrefix("HTTP/") else { return "1.1" }
        let version = serverProtocol.dropFirst(5)
        switch version {
        case "2", "2.0": return "2"
        case "3", "3.0": return "3"
        default: return String(version)
        }
    }
}

/// The extensions a frontend announces in its scopes, by the spec's names.
@_spi(ASGIFrontend) public enum ServerExtension {
    /// `http.response.trailers`.
    public static let trailers = "http.response.trailers"
    /// `http.response.pathsend`.
    public static let pathsend = "http.response.pathsend"
    /// `websocket.http.response`.
    public static let webSocketHTTPResponse = "websocket.http.response"
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
