import ASGI
import NIOHTTP1

/// A response head built from an application's `http.response.start` (or
/// `websocket.http.response.start`), with the facts that decide how its body is framed.
struct ResponseHead {
    var head: HTTPResponseHead
    /// The application gave a `Content-Length`.
    var hasContentLength: Bool
    /// The application asked for `Connection: close`.
    var connectionClose: Bool

    /// Builds the head; ASGI header bytes that HTTP cannot carry (CR, LF, NUL; a name that is
    /// not a token) are refused, so no application can split a response.
    /// - Throws: ``ASGIProtocolError`` naming the bad header or status.
    init(status: Int, headers: ASGIHeaders, version: HTTPVersion, serverHeader: String?, event: SendEvent) throws {
        guard (100...999).contains(status) else {
            throw ASGIProtocolError.unexpected(event, "status \(status) is not a three-digit HTTP status")
        }
        var fields = HTTPHeaders()
        fields.reserveCapacity(headers.count + 3)
        var hasContentLength = false
        var connectionClose = false
        var hasDate = false
        var hasServer = false
        for header in headers {
            let name = header.name
            guard !name.isEmpty, name.allSatisfy(Self.isTokenByte) else {
                throw ASGIProtocolError.unexpected(event, "header name \(String(decoding: name, as: UTF8.self).debugDescription) is not an HTTP token")
            }
            guard !header.value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) else {
                throw ASGIProtocolError.unexpected(event, "the value of header '\(String(decoding: name, as: UTF8.self))' contains CR, LF or NUL")
            }
            switch name.count {
            case 4 where asciiCaseInsensitiveEqual(name, Self.date):
                hasDate = true
            case 6 where asciiCaseInsensitiveEqual(name, Self.server):
                hasServer = true
            case 10 where asciiCaseInsensitiveEqual(name, Self.connection):
                if RequestHead.containsToken(asciiLowercased(header.value), Self.close) { connectionClose = true }
            case 14 where asciiCaseInsensitiveEqual(name, Self.contentLength):
                hasContentLength = true
            case 17 where asciiCaseInsensitiveEqual(name, Self.transferEncoding):
                // The spec: servers ignore Transfer-Encoding; framing is the server's job.
                continue
            default:
                break
            }
            fields.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: header.value, as: UTF8.self))
        }
        if !hasDate { fields.add(name: "date", value: DateCache.shared.current) }
        if !hasServer, let serverHeader { fields.add(name: "server", value: serverHeader) }
        self.head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: fields)
        self.hasContentLength = hasContentLength
        self.connectionClose = connectionClose
    }

    private static let date = Array("date".utf8)
    private static let server = Array("server".utf8)
    private static let connection = Array("connection".utf8)
    private static let close = Array("close".utf8)
    private static let contentLength = Array("content-length".utf8)
    private static let transferEncoding = Array("transfer-encoding".utf8)

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// A plain-text response the server sends on its own (errors, limits).
    static func plain(status: HTTPResponseStatus, version: HTTPVersion, close: Bool, body: String, serverHeader: String?) -> (HTTPResponseHead, String) {
        var fields = HTTPHeaders()
        fields.add(name: "content-type", value: "text/plain; charset=utf-8")
        fields.add(name: "content-length", value: String(body.utf8.count))
        fields.add(name: "date", value: DateCache.shared.current)
        if let serverHeader { fields.add(name: "server", value: serverHeader) }
        if close { fields.add(name: "connection", value: "close") }
        return (HTTPResponseHead(version: version, status: status, headers: fields), body)
    }
}

/// Compares two byte strings, ignoring ASCII case.
func asciiCaseInsensitiveEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    for index in a.indices {
        var x = a[index]
        if x >= 0x41 && x <= 0x5A { x |= 0x20 }
        if x != b[index] { return false }
    }
    return true
}
