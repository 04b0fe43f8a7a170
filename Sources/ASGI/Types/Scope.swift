import Synchronization

/// What a connection is: the first argument of every ASGI application call.
public enum Scope: Sendable {
    /// An HTTP request.
    case http(HTTPScope)
    /// A WebSocket connection.
    case websocket(WebSocketScope)
    /// The application's lifespan (startup and shutdown).
    case lifespan(LifespanScope)

    /// The spec's `type` string: `"http"`, `"websocket"` or `"lifespan"`.
    public var type: String {
        switch self {
        case .http: return "http"
        case .websocket: return "websocket"
        case .lifespan: return "lifespan"
        }
    }
}

/// The `asgi` key of a scope: the interface version and the protocol's spec version.
public struct ASGIVersions: Sendable, Hashable {
    /// The ASGI interface version: `"3.0"` (or `"2.0"` for double-callable applications).
    public var version: String
    /// The protocol spec version the server implements (HTTP and WebSocket: `"2.5"`; lifespan: `"2.0"`).
    public var specVersion: String

    /// Creates the versions.
    public init(version: String = "3.0", specVersion: String) {
        self.version = version
        self.specVersion = specVersion
    }
}

/// A network address in a scope: host and port, or a unix socket path with no port.
public struct ASGIAddress: Sendable, Hashable {
    /// The host (or the unix socket path).
    public var host: String
    /// The port (`nil` for a unix socket).
    public var port: Int?

    /// Creates an address.
    public init(host: String, port: Int?) {
        self.host = host
        self.port = port
    }
}

/// A value the spec allows in `state` and `extensions`.
public typealias ASGIValue = any Sendable

/// The connection scope of an HTTP request (ASGI HTTP spec 2.5).
public struct HTTPScope: Sendable {
    /// Interface and spec versions.
    public var asgi: ASGIVersions
    /// `"1.0"`, `"1.1"` or `"2"`.
    public var httpVersion: String
    /// The method, upper case.
    public var method: String
    /// The URL scheme: `"http"` or `"https"`.
    public var scheme: String
    /// The path, percent-decoded and UTF-8 decoded, without the query string.
    public var path: String
    /// The path exactly as it came on the request line, if the server knows it.
    public var rawPath: [UInt8]?
    /// The query string, still percent-encoded, without the `?`.
    public var queryString: [UInt8]
    /// Where the application is mounted (the WSGI `SCRIPT_NAME`); `path` includes it.
    public var rootPath: String
    /// The request headers, order and repeats kept.
    public var headers: ASGIHeaders
    /// The client's address, if known.
    public var client: ASGIAddress?
    /// The server's address (host and port, or unix socket path and `nil`), if known.
    public var server: ASGIAddress?
    /// A shallow copy of the lifespan state, when the server supports it.
    public var state: [String: ASGIValue]?
    /// Extensions the server supports, by name.
    public var extensions: [String: [String: ASGIValue]]?

    /// Creates an HTTP scope with the spec's defaults.
    public init(
        asgi: ASGIVersions = ASGIVersions(specVersion: "2.5"),
        httpVersion: String = "1.1",
        method: String = "GET",
        scheme: String = "http",
        path: String = "/",
        rawPath: [UInt8]? = nil,
        queryString: [UInt8] = [],
        rootPath: String = "",
        headers: ASGIHeaders = [],
        client: ASGIAddress? = nil,
        server: ASGIAddress? = nil,
        state: [String: ASGIValue]? = nil,
        extensions: [String: [String: ASGIValue]]? = nil
    ) {
        self.asgi = asgi
        self.httpVersion = httpVersion
        self.method = method
        self.scheme = scheme
        self.path = path
        self.rawPath = rawPath
        self.queryString = queryString
        self.rootPath = rootPath
        self.headers = headers
        self.client = client
        self.server = server
        self.state = state
        self.extensions = extensions
    }
}

/// The connection scope of a WebSocket (ASGI WebSocket spec 2.5).
public struct WebSocketScope: Sendable {
    /// Interface and spec versions.
    public var asgi: ASGIVersions
    /// The HTTP version of the handshake.
    public var httpVersion: String
    /// `"ws"` or `"wss"`.
    public var scheme: String
    /// The path, percent-decoded and UTF-8 decoded.
    public var path: String
    /// The path exactly as it came on the request line, if known.
    public var rawPath: [UInt8]?
    /// The query string, percent-encoded.
    public var queryString: [UInt8]
    /// Where the application is mounted.
    public var rootPath: String
    /// The handshake's headers.
    public var headers: ASGIHeaders
    /// The client's address, if known.
    public var client: ASGIAddress?
    /// The server's address, if known.
    public var server: ASGIAddress?
    /// The subprotocols the client offered, in order.
    public var subprotocols: [String]
    /// A shallow copy of the lifespan state.
    public var state: [String: ASGIValue]?
    /// Extensions the server supports (e.g. `"websocket.http.response"`).
    public var extensions: [String: [String: ASGIValue]]?

    /// Creates a WebSocket scope with the spec's defaults.
    public init(
        asgi: ASGIVersions = ASGIVersions(specVersion: "2.5"),
        httpVersion: String = "1.1",
        scheme: String = "ws",
        path: String = "/",
        rawPath: [UInt8]? = nil,
        queryString: [UInt8] = [],
        rootPath: String = "",
        headers: ASGIHeaders = [],
        client: ASGIAddress? = nil,
        server: ASGIAddress? = nil,
        subprotocols: [String] = [],
        state: [String: ASGIValue]? = nil,
        extensions: [String: [String: ASGIValue]]? = nil
    ) {
        self.asgi = asgi
        self.httpVersion = httpVersion
        self.scheme = scheme
        self.path = path
        self.rawPath = rawPath
        self.queryString = queryString
        self.rootPath = rootPath
        self.headers = headers
        self.client = client
        self.server = server
        self.subprotocols = subprotocols
        self.state = state
        self.extensions = extensions
    }
}

/// The scope of the application's lifespan (ASGI lifespan spec 2.0).
public struct LifespanScope: Sendable {
    /// Interface and spec versions.
    public var asgi: ASGIVersions
    /// State the application fills during startup; servers copy it (shallowly) into every request scope.
    public var state: LifespanState

    /// Creates a lifespan scope.
    public init(asgi: ASGIVersions = ASGIVersions(specVersion: "2.0"), state: LifespanState = LifespanState()) {
        self.asgi = asgi
        self.state = state
    }
}

/// The lifespan `state` dictionary: filled by the application at startup, copied into requests.
public final class LifespanState: Sendable {
    private let storage = Mutex<[String: ASGIValue]>([:])

    /// Creates an empty state.
    public init() {}

    /// A value by key.
    public subscript(key: String) -> ASGIValue? {
        get { storage.withLock { $0[key] } }
        set { storage.withLock { $0[key] = newValue } }
    }

    /// A shallow copy for a request scope.
    public func snapshot() -> [String: ASGIValue] {
        storage.withLock { $0 }
    }
}
