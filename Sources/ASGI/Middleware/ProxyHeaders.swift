/// Takes the client's address from `X-Forwarded-For` and the scheme from `X-Forwarded-Proto` when
/// the connection comes from a trusted proxy, as uvicorn's `--proxy-headers` does.
///
/// Behind `proxy_pass`, every request comes from the proxy: without this, `scope.client` (and so
/// `REMOTE_ADDR` under ``WSGIToASGI``) is the proxy's address and the scheme is `http` even for
/// HTTPS visitors. This rewrites `client` and `scheme` of HTTP and WebSocket scopes; the headers
/// themselves stay as they came.
///
/// The rules, for a peer in ``trustedProxies`` (headers from any other peer are ignored: a client
/// can write whatever it likes into them):
/// - `X-Forwarded-For` lists one address per hop, each proxy appending the one it saw. Reading
///   from the right, trusted proxies are skipped and the first address that is not trusted is the
///   client (what uvicorn 0.30 and later do); if every hop is trusted, the left-most one is. With
///   ``TrustedProxies/all`` the left-most entry is the client. Repeated header lines count as one
///   list, in order. The chosen entry must be an IP address, optionally with a port
///   (`192.0.2.7:4711`, `[2001:db8::1]:4711`); anything else (`unknown`, an obfuscated RFC 7239
///   identifier, an empty hop) leaves the client as it was, rather than skipping further left to
///   an address the client itself may have written.
/// - `X-Forwarded-Proto` sets the scheme if it is one of `http`, `https`, `ws`, `wss` (any case);
///   a WebSocket scope gets `ws`/`wss`, an HTTP scope `http`/`https`. A list (`https, http`) or
///   any other value is ignored.
///
/// The RFC 7239 `Forwarded` header is not read (uvicorn and gunicorn do not either). Behind nginx
/// over FastCGI, nginx's `real_ip` module does this job (`set_real_ip_from`, `real_ip_header`).
///
/// ```swift
/// let app = ProxyHeaders(WSGIToASGI(legacy), trustedProxies: try TrustedProxies("127.0.0.1, 10.0.0.0/8"))
/// ```
public struct ProxyHeaders: ASGIApplication {
    /// The wrapped application.
    public let application: any ASGIApplication
    /// The peers whose forwarding headers are believed.
    public let trustedProxies: TrustedProxies

    /// Wraps `application`; the default trusts a proxy on `127.0.0.1` only.
    public init(_ application: any ASGIApplication, trustedProxies: TrustedProxies = .localhost) {
        self.application = application
        self.trustedProxies = trustedProxies
    }

    /// Serves one connection with `client` and `scheme` taken from a trusted proxy's headers.
    public func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        switch scope {
        case .http(var http):
            let forwarded = Self.forwarded(peer: http.client, headers: http.headers, trusting: trustedProxies)
            if let client = forwarded.client { http.client = client }
            if let secure = forwarded.secure { http.scheme = secure ? "https" : "http" }
            try await application(scope: .http(http), receive: receive, send: send)
        case .websocket(var websocket):
            let forwarded = Self.forwarded(peer: websocket.client, headers: websocket.headers, trusting: trustedProxies)
            if let client = forwarded.client { websocket.client = client }
            if let secure = forwarded.secure { websocket.scheme = secure ? "wss" : "ws" }
            try await application(scope: .websocket(websocket), receive: receive, send: send)
        case .lifespan:
            try await application(scope: scope, receive: receive, send: send)
        }
    }

    /// What the forwarding headers say, if the peer is trusted and the values are usable: the
    /// client's address, and whether the original request was secure (`https`/`wss`).
    static func forwarded(peer: ASGIAddress?, headers: ASGIHeaders, trusting trusted: TrustedProxies) -> (client: ASGIAddress?, secure: Bool?) {
        if !trusted.trustsEveryone {
            guard let peer, trusted.trusts(peer.host) else { return (nil, nil) }
        }
        var forwardedFor: [Substring] = []
        var forwardedProto: [Substring] = []
        for header in headers {
            if asciiCaseInsensitiveEquals(header.name, xForwardedFor) {
                forwardedFor.append(contentsOf: header.valueString.split(separator: ",", omittingEmptySubsequences: false))
            } else if asciiCaseInsensitiveEquals(header.name, xForwardedProto) {
                forwardedProto.append(contentsOf: header.valueString.split(separator: ",", omittingEmptySubsequences: false))
            }
        }
        return (client(from: forwardedFor, trusting: trusted), secure(from: forwardedProto))
    }

    /// The client among the hops of `X-Forwarded-For`, or `nil` when the list gives none usable.
    static func client(from hops: [Substring], trusting trusted: TrustedProxies) -> ASGIAddress? {
        guard !hops.isEmpty else { return nil }
        let chosen: Substring
        if trusted.trustsEveryone {
            chosen = hops[0]
        } else if let untrusted = hops.last(where: { hop in
            guard let (address, _) = Self.parseHop(hop) else { return true }
            return !trusted.trusts(address)
        }) {
            chosen = untrusted
        } else {
            chosen = hops[0]
        }
        guard let (_, hostPort) = parseHop(chosen) else { return nil }
        return hostPort
    }

    /// Parses one hop: `ADDRESS`, `IPV4:PORT`, `[IPV6]` or `[IPV6]:PORT`, spaces around allowed.
    static func parseHop(_ hop: Substring) -> (IPAddress, ASGIAddress)? {
        let text = hop.trimmingASCIIWhitespace()
        var host = text
        var port = 0
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let parsed = parsePort(rest.dropFirst()) else { return nil }
                port = parsed
            }
        } else if let colon = text.firstIndex(of: ":"), text[text.index(after: colon)...].firstIndex(of: ":") == nil {
            // Exactly one colon: IPv4 with a port (a bare IPv6 address has at least two).
            host = text[..<colon]
            guard let parsed = parsePort(text[text.index(after: colon)...]) else { return nil }
            port = parsed
        }
        guard let address = IPAddress(host) else { return nil }
        return (address, ASGIAddress(host: String(host), port: port))
    }

    private static func parsePort(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let port = Int(text), port <= 65_535
        else { return nil }
        return port
    }

    /// Whether `X-Forwarded-Proto` says the request was secure; `nil` when absent or unusable.
    static func secure(from values: [Substring]) -> Bool? {
        guard values.count == 1 else { return nil }
        switch values[0].trimmingASCIIWhitespace().lowercased() {
        case "https", "wss": return true
        case "http", "ws": return false
        default: return nil
        }
    }
}

private let xForwardedFor = Array("x-forwarded-for".utf8)
private let xForwardedProto = Array("x-forwarded-proto".utf8)
