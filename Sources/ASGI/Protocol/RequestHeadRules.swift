/// Why a request head cannot be served as it came (RFC 9112 §3.2 and the package's path rule):
/// the one check every frontend makes before a scope reaches an application.
@_spi(ASGIFrontend) public enum RequestHeadProblem: Error, Hashable, Sendable {
    /// An HTTP/1.1 request without a `Host` header.
    case missingHost
    /// More than one `Host` header (a proxy and the application could each read a different one).
    case duplicateHost
    /// The decoded path holds a NUL byte (`%00`), which no file system or C string survives.
    case nulInPath
    /// The decoded path has a dot-segment (`.` or `..`, `%2e` spelled or not): see
    /// ``RequestTarget/pathProblem``.
    case dotSegmentInPath

    /// The problem in words.
    public var message: String {
        switch self {
        case .missingHost: return "an HTTP/1.1 request must have a Host header"
        case .duplicateHost: return "a request must not have more than one Host header"
        case .nulInPath: return "the request path contains a NUL byte (%00)"
        case .dotSegmentInPath: return "the request path contains a dot-segment ('.' or '..'), which clients resolve before sending (RFC 3986 §5.2.4)"
        }
    }

    /// The answer the client gets (400, the problem as its detail).
    public var response: PlainResponse {
        PlainResponse.badRequest(message)
    }
}

extension ASGIRequestHead {
    /// Applies the rules a server checks in a request head before it serves it, in place:
    /// - `Host` is unique, and present in HTTP/1.1 (RFC 9112 §3.2: 400 otherwise);
    /// - an absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2): the application
    ///   sees it as the `host` header, so `Host` cannot name another site than the request line;
    /// - the decoded path holds no NUL and no dot-segment (``RequestTarget/pathProblem``).
    ///
    /// ```swift
    /// var head = ASGIRequestHead(method: "GET", httpVersion: "1.1", scheme: "http",
    ///                            target: RequestTarget("http://a.example/x"), rootPath: "",
    ///                            headers: [("host", "b.example")], client: nil, server: nil)
    /// try head.applyRequestRules()   // headers: [("host", "a.example")]
    /// ```
    /// - Throws: ``RequestHeadProblem``; the answer to give is its ``RequestHeadProblem/response``.
    public mutating func applyRequestRules() throws(RequestHeadProblem) {
        var hostIndex: Int?
        for index in headers.indices where Self.isHost(headers[index].name) {
            guard hostIndex == nil else { throw .duplicateHost }
            hostIndex = index
        }
        if hostIndex == nil && httpVersion == "1.1" { throw .missingHost }
        if let authority = target.authority {
            if let hostIndex {
                headers[hostIndex].value = authority
            } else {
                headers.append(ASGIHeader(name: Self.hostName, value: authority))
            }
        }
        if let problem = target.pathProblem { throw problem }
    }

    private static let hostName = Array("host".utf8)

    private static func isHost(_ name: [UInt8]) -> Bool {
        name.count == 4 && asciiCaseInsensitiveEquals(name, hostName)
    }
}
