/// A request target split the way every scope wants it: the one rule for `path`, `raw_path` and
/// `query_string`, whichever frontend read the request line.
///
/// - Origin form (`/a/b?x=1`) splits at the first `?`.
/// - Absolute form (`http://host:8080/a?x`) keeps its authority apart and its path from the first
///   `/` (`/` when it has none).
/// - A fragment (`#…`) is never part of a request; clients do not send it, and when one does the
///   first `#` ends the target (uvicorn and h11 do the same).
/// - `path` is ``HTTPScope/decodedPath(_:)`` of the raw path; `rawPath` and `queryString` keep the
///   bytes as sent.
@_spi(ASGIFrontend) public struct RequestTarget: Sendable, Hashable {
    /// The path as sent: still percent-encoded, without query and fragment.
    public var rawPath: [UInt8]
    /// The query string as sent, without the `?` and the fragment.
    public var queryString: [UInt8]
    /// The path, percent-decoded and read as UTF-8.
    public var path: String
    /// The authority of an absolute-form target (`host:port`), else `nil`.
    public var authority: [UInt8]?

    /// Splits `target`.
    public init(_ target: some Collection<UInt8>) {
        var bytes = Array(target)
        if let hash = bytes.firstIndex(of: UInt8(ascii: "#")) { bytes.removeSubrange(hash...) }
        authority = nil
        if let (authorityRange, pathStart) = Self.absoluteForm(bytes) {
            authority = Array(bytes[authorityRange])
            bytes.removeSubrange(..<pathStart)
            if bytes.first != UInt8(ascii: "/") { bytes.insert(UInt8(ascii: "/"), at: 0) }
        } else if bytes.isEmpty {
            bytes = [UInt8(ascii: "/")]
        }
        if let question = bytes.firstIndex(of: UInt8(ascii: "?")) {
            queryString = Array(bytes[(question + 1)...])
            rawPath = Array(bytes[..<question])
        } else {
            queryString = []
            rawPath = bytes
        }
        path = HTTPScope.decodedPath(rawPath)
    }

    /// Splits `target` given as text.
    public init(_ target: String) {
        self.init(target.utf8)
    }

    /// What keeps the decoded path from being served, or `nil`: a NUL byte (`%00`), or a
    /// dot-segment.
    ///
    /// Dot-segments are refused (400), never resolved. A client resolves `.` and `..` before it
    /// sends a request (RFC 3986 §5.2.4; browsers and curl do), so a path that still holds one
    /// comes from a client trying something: `/ws/../admin` would otherwise reach the application
    /// mounted at `/ws` (a mount matched by prefix) while naming `/admin`, and an application that
    /// maps paths to files could be led out of its directory. Resolving it instead would route
    /// the request somewhere other than where its `raw_path` says, and the proxy in front, the
    /// router and the application could each disagree on where that is; refusing leaves no such
    /// doubt. The check reads the decoded path, so `%2e%2e` and `..%2f` are refused too. Every
    /// frontend applies it before any routing or mount matching (the HTTP server, and the
    /// Hummingbird mount for HTTP requests and WebSocket handshakes).
    public var pathProblem: RequestHeadProblem? {
        let bytes = path.utf8
        if bytes.contains(0) { return .nulInPath }
        for segment in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if segment.count == 1 && segment.first == UInt8(ascii: ".") { return .dotSegmentInPath }
            if segment.count == 2 && segment.allSatisfy({ $0 == UInt8(ascii: ".") }) { return .dotSegmentInPath }
        }
        return nil
    }

    /// The target as the application is mounted under `rootPath` by a proxy that strips it (as
    /// uvicorn's `--root-path`): both paths start with the root path.
    public func mounted(under rootPath: String) -> RequestTarget {
        guard !rootPath.isEmpty else { return self }
        var mounted = self
        mounted.rawPath = Array(rootPath.utf8) + rawPath
        mounted.path = rootPath + path
        return mounted
    }

    /// The authority and where the path starts, for an absolute-form target (`scheme://authority…`).
    private static func absoluteForm(_ bytes: [UInt8]) -> (Range<Int>, Int)? {
        guard let first = bytes.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*"),
            let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            bytes[..<colon].allSatisfy(isSchemeByte),
            colon + 2 < bytes.count,
            bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        let authorityStart = colon + 3
        var index = authorityStart
        while index < bytes.count, bytes[index] != UInt8(ascii: "/"), bytes[index] != UInt8(ascii: "?") {
            index += 1
        }
        return (authorityStart..<index, index)
    }

    /// RFC 3986 `scheme` characters.
    private static func isSchemeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }
}

/// The one rule for where an application is mounted (`root_path`, the WSGI `SCRIPT_NAME`).
@_spi(ASGIFrontend) public enum RootPath {
    /// A configured root path in its one form: no trailing `/` (so `/` and `""` both mean none).
    public static func normalized(_ rootPath: String) -> String {
        var root = rootPath
        while root.hasSuffix("/") { root.removeLast() }
        return root
    }

    /// Whether `path` lies under `rootPath`: equal to it, or continuing it with `/`.
    ///
    /// Compared as UTF-8 bytes, not characters: a combining mark after the `/` (or after the
    /// root path's last character) joins it into another `Character`, yet the path still lies
    /// under the root path.
    public static func contains(_ path: some StringProtocol, under rootPath: some StringProtocol) -> Bool {
        guard !rootPath.isEmpty else { return true }
        guard path.utf8.starts(with: rootPath.utf8) else { return false }
        let rest = path.utf8.dropFirst(rootPath.utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "/")
    }

    /// The root path of a request for `path` to an application mounted at `mountPoint`: the mount
    /// point when the path lies under it, else `""`.
    public static func of(path: String, mountPoint: String) -> String {
        let root = normalized(mountPoint)
        return !root.isEmpty && contains(path, under: root) ? root : ""
    }
}
