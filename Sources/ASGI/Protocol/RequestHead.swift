/// What a frontend knows of a request once its head is read, in one neutral form: every scope
/// (HTTP and WebSocket, whichever server) is built from it, and every environ from that scope
/// (``Environ/init(scope:input:errors:duplicateHeaderLimit:)``).
package struct ASGIRequestHead: Sendable {
    /// The method, as sent (upper case by convention; methods are case-sensitive).
    package var method: String
    /// `"1.0"`, `"1.1"`, `"2"` or `"3"` (see ``httpVersion(major:minor:)``).
    package var httpVersion: String
    /// `"http"` or `"https"`.
    package var scheme: String
    /// The request target, already mounted under ``rootPath`` when the frontend prefixes it.
    package var target: RequestTarget
    /// Where the application is mounted; ``RequestTarget/path`` includes it.
    package var rootPath: String
    /// The request headers, order and repeats kept, names lower-cased.
    package var headers: ASGIHeaders
    /// The client's address, if known.
    package var client: ASGIAddress?
    /// The server's address, if known.
    package var server: ASGIAddress?

    package init(
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
    package func httpScope(state: [String: ASGIValue]?, extensions: [String: [String: ASGIValue]]?) -> HTTPScope {
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
    package func webSocketScope(state: [String: ASGIValue]?, extensions: [String: [String: ASGIValue]]?) -> WebSocketScope {
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
    package static func subprotocols(in headers: ASGIHeaders) -> [String] {
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
    package static func httpVersion(major: Int, minor: Int) -> String {
        major >= 2 ? String(major) : "\(major).\(minor)"
    }

    /// The scope's `http_version` for a CGI `SERVER_PROTOCOL` (`HTTP/1.1`, `HTTP/2.0`…); `"1.1"`
    /// when it is not `HTTP/…`.
    package static func httpVersion(serverProtocol: some StringProtocol) -> String {
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
package enum ServerExtension {
    /// `http.response.trailers`.
    package static let trailers = "http.response.trailers"
    /// `http.response.pathsend`.
    package static let pathsend = "http.response.pathsend"
    /// `websocket.http.response`.
    package static let webSocketHTTPResponse = "websocket.http.response"
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
