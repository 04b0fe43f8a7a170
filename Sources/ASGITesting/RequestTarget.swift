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
        self.path = String(decoding: Self.unescape(rawPath), as: UTF8.self)
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

    /// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is.
    static func unescape(_ bytes: [UInt8]) -> [UInt8] {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(bytes[index])
                index += 1
            }
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
