import ASGI

/// A request target (`/path?query`) split and decoded the way a server fills a scope.
struct RequestTarget {
    /// The path, percent-decoded and UTF-8 decoded (invalid UTF-8 becomes U+FFFD, as uvicorn does).
    let path: String
    /// The path as it goes on the request line: percent-encoded.
    let rawPath: [UInt8]
    /// The query string, percent-encoded, without the `?`.
    let queryString: [UInt8]

    /// Splits `target` at its first `?`. Characters a client would have to escape (spaces, controls,
    /// non-ASCII) are percent-encoded first, as a client would send them; existing escapes are kept.
    /// An explicit `queryString` replaces the one in `target`.
    init(_ target: String, queryString: String?) {
        let bytes = Array(target.utf8)
        let questionMark = bytes.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = Self.escape(bytes[..<(questionMark ?? bytes.endIndex)])
        self.rawPath = rawPath
        self.path = HTTPScope.decodedPath(rawPath)
        if let queryString {
            self.queryString = Self.escape(queryString.utf8)
        } else if let questionMark {
            self.queryString = Self.escape(bytes[(questionMark + 1)...])
        } else {
            self.queryString = []
        }
    }

    /// Percent-encodes the bytes a request line cannot carry as they are.
    static func escape(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var escaped: [UInt8] = []
        for byte in bytes {
            if byte <= 0x20 || byte >= 0x7F {
                escaped += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            } else {
                escaped.append(byte)
            }
        }
        return escaped
    }
}
