@_spi(ASGIFrontend) import ASGI
import NIOCore
import NIOHTTP1

/// A response head built from an application's `http.response.start` (or
/// `websocket.http.response.start`), with the facts that decide how its body is framed.
struct ResponseHead {
    var head: HTTPResponseHead
    /// The application gave a `Content-Length`.
    var hasContentLength: Bool
    /// The application asked for `Connection: close`.
    var connectionClose: Bool

    /// Builds the head; statuses and header bytes that HTTP cannot carry are refused by the
    /// package's one rule (``ASGI/HTTPStatus``, ``ASGI/HTTPFieldValidator``), so no application can
    /// split a response.
    /// - Throws: ``ASGIProtocolError`` naming the bad header or status.
    init(status: Int, headers: ASGIHeaders, version: HTTPVersion, serverHeader: String?, event: SendEvent) throws {
        guard HTTPStatus.isValid(status) else {
            throw ASGIProtocolError.unexpected(event, "status \(status) is not an HTTP status (100 to 599)")
        }
        try HTTPFieldValidator.validate(headers, in: event)
        var fields = HTTPHeaders()
        fields.reserveCapacity(headers.count + 3)
        var hasContentLength = false
        var connectionClose = false
        var hasDate = false
        var hasServer = false
        for header in headers {
            let name = header.name
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
        self.head = HTTPResponseHead(version: version, status: Self.status(status), headers: fields)
        self.hasContentLength = hasContentLength
        self.connectionClose = connectionClose
    }

    private static let date = Array("date".utf8)
    private static let server = Array("server".utf8)
    private static let connection = Array("connection".utf8)
    private static let close = Array("close".utf8)
    private static let contentLength = Array("content-length".utf8)
    private static let transferEncoding = Array("transfer-encoding".utf8)

    /// NIO's status for `code`, with the package's reason phrase (the same on every frontend).
    static func status(_ code: Int) -> HTTPResponseStatus {
        HTTPResponseStatus(statusCode: code, reasonPhrase: HTTPStatus.reasonPhrase(code))
    }

    /// An answer the server gives on its own (errors, limits), as the package words every such
    /// answer (``ASGI/PlainResponse``).
    static func plain(_ response: PlainResponse, version: HTTPVersion, close: Bool, serverHeader: String?) -> [HTTPServerResponsePart] {
        var fields = HTTPHeaders()
        for header in response.headers {
            fields.add(name: header.nameString, value: header.valueString)
        }
        fields.add(name: "date", value: DateCache.shared.current)
        if let serverHeader { fields.add(name: "server", value: serverHeader) }
        if close { fields.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: status(response.status), headers: fields)
        return [.head(head), .body(.byteBuffer(ByteBuffer(bytes: response.body))), .end(nil)]
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
