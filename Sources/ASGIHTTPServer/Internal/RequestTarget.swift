import ASGI

/// The request line's target split the way an ASGI scope wants it.
///
/// `path` is percent-decoded and UTF-8 decoded (invalid sequences become U+FFFD, as uvicorn's
/// `unquote`), `rawPath` keeps the bytes as sent, `queryString` stays percent-encoded. With a root
/// path, both paths start with it (uvicorn's `--root-path` behaviour, which the ASGI spec asks for).
struct RequestTarget {
    var path: String
    var rawPath: [UInt8]
    var queryString: [UInt8]

    init(_ uri: String, rootPath: String) {
        var utf8 = Array(uri.utf8)
        // Absolute form (`GET http://host/path HTTP/1.1`): drop the scheme and authority.
        if let schemeEnd = Self.absoluteFormPathStart(utf8) {
            utf8.removeFirst(schemeEnd)
            if utf8.first != UInt8(ascii: "/") && utf8.first != UInt8(ascii: "*") {
                utf8.insert(UInt8(ascii: "/"), at: 0)
            }
        }
        let pathBytes: ArraySlice<UInt8>
        if let question = utf8.firstIndex(of: UInt8(ascii: "?")) {
            pathBytes = utf8[..<question]
            var query = utf8[(question + 1)...]
            if let hash = query.firstIndex(of: UInt8(ascii: "#")) { query = query[..<hash] }
            queryString = Array(query)
        } else {
            var end = utf8.endIndex
            if let hash = utf8.firstIndex(of: UInt8(ascii: "#")) { end = hash }
            pathBytes = utf8[..<end]
            queryString = []
        }
        if rootPath.isEmpty {
            rawPath = Array(pathBytes)
        } else {
            rawPath = Array(rootPath.utf8) + pathBytes
        }
        let decoded = HTTPScope.decodedPath(pathBytes)
        path = rootPath.isEmpty ? decoded : rootPath + decoded
    }

    /// Where the path starts in an absolute-form target (`http://` or `https://` + authority), or `nil`.
    private static func absoluteFormPathStart(_ bytes: [UInt8]) -> Int? {
        guard let first = bytes.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*") else { return nil }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            colon + 2 < bytes.count,
            bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        let authorityStart = colon + 3
        var index = authorityStart
        while index < bytes.count, bytes[index] != UInt8(ascii: "/"), bytes[index] != UInt8(ascii: "?") {
            index += 1
        }
        return index
    }
}
