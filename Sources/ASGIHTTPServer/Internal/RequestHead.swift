@_spi(ASGIFrontend) import ASGI
import NIOHTTP1

/// What the server reads off a request head in one pass over its headers: the ASGI headers
/// (names lower-cased, order and repeats kept) and the facts that decide how it is served.
struct RequestHead {
    /// The ASGI headers.
    var headers: ASGIHeaders
    /// `Content-Length`, when given and valid.
    var contentLength: Int?
    /// A `Content-Length` past any length this server can hold (`Int.max`): answered with 413.
    var oversizedContentLength: String?
    /// `Transfer-Encoding` is present (the body is chunked).
    var isChunked = false
    /// Whether the connection may carry another request after this one.
    var keepAlive: Bool
    /// `Expect: 100-continue`.
    var expectsContinue = false
    /// `TE: trailers`: the client accepts response trailers.
    var acceptsTrailers = false
    /// `Connection: upgrade` with an `Upgrade` header (a protocol switch we did not perform).
    var wantsUpgrade = false

    init(_ head: HTTPRequestHead) {
        var elements: [ASGIHeader] = []
        elements.reserveCapacity(head.headers.count)
        var connectionClose = false
        var connectionKeepAlive = false
        var connectionUpgrade = false
        var hasUpgrade = false
        for (name, value) in head.headers {
            var nameBytes = Array(name.utf8)
            for index in nameBytes.indices where nameBytes[index] >= 0x41 && nameBytes[index] <= 0x5A {
                nameBytes[index] |= 0x20
            }
            let valueBytes = Array(value.utf8)
            switch nameBytes.count {
            case 2 where nameBytes == Self.te:
                if Self.containsToken(valueBytes, Self.trailers) { acceptsTrailers = true }
            case 6 where nameBytes == Self.expect:
                if asciiLowercased(valueBytes) == Self.continue100 { expectsContinue = true }
            case 7 where nameBytes == Self.upgrade:
                hasUpgrade = true
            case 10 where nameBytes == Self.connection:
                let lowered = asciiLowercased(valueBytes)
                if Self.containsToken(lowered, Self.close) { connectionClose = true }
                if Self.containsToken(lowered, Self.keepAliveToken) { connectionKeepAlive = true }
                if Self.containsToken(lowered, Self.upgrade) { connectionUpgrade = true }
            case 14 where nameBytes == Self.contentLengthName:
                switch ContentLength.parse(valueBytes) {
                case .length(let length): contentLength = length
                case .tooLarge: oversizedContentLength = value
                case .malformed: break
                }
            case 17 where nameBytes == Self.transferEncoding:
                isChunked = true
            default:
                break
            }
            elements.append(ASGIHeader(name: nameBytes, value: valueBytes))
        }
        self.headers = ASGIHeaders(elements)
        if head.version.major == 1 && head.version.minor == 0 {
            keepAlive = connectionKeepAlive && !connectionClose
        } else {
            keepAlive = !connectionClose
        }
        wantsUpgrade = hasUpgrade && connectionUpgrade
    }

    /// The package's neutral head of this request (``ASGI/ASGIRequestHead``), from which its scope
    /// is built: the target split by the package's one rule and mounted under `rootPath`.
    func asgiHead(_ head: HTTPRequestHead, rootPath: String, client: ASGIAddress?, server: ASGIAddress?) -> ASGIRequestHead {
        ASGIRequestHead(
            method: head.method.rawValue,
            httpVersion: ASGIRequestHead.httpVersion(major: head.version.major, minor: head.version.minor),
            scheme: "http",
            target: RequestTarget(head.uri).mounted(under: rootPath),
            rootPath: rootPath,
            headers: headers,
            client: client,
            server: server
        )
    }

    private static let te = Array("te".utf8)
    private static let trailers = Array("trailers".utf8)
    private static let expect = Array("expect".utf8)
    private static let continue100 = Array("100-continue".utf8)
    private static let upgrade = Array("upgrade".utf8)
    private static let connection = Array("connection".utf8)
    private static let close = Array("close".utf8)
    private static let keepAliveToken = Array("keep-alive".utf8)
    private static let contentLengthName = Array("content-length".utf8)
    private static let transferEncoding = Array("transfer-encoding".utf8)

    /// Whether a comma-separated list holds `token` (compared as given: lower-case both first).
    static func containsToken(_ list: [UInt8], _ token: [UInt8]) -> Bool {
        var start = 0
        let count = list.count
        while start <= count {
            var end = start
            while end < count && list[end] != UInt8(ascii: ",") { end += 1 }
            var lower = start
            var upper = end
            while lower < upper && (list[lower] == 0x20 || list[lower] == 0x09) { lower += 1 }
            while upper > lower && (list[upper - 1] == 0x20 || list[upper - 1] == 0x09) { upper -= 1 }
            if upper - lower == token.count && list[lower..<upper].elementsEqual(token) { return true }
            start = end + 1
        }
        return false
    }
}

/// `bytes` with ASCII upper-case letters lowered.
func asciiLowercased(_ bytes: [UInt8]) -> [UInt8] {
    var result = bytes
    for index in result.indices where result[index] >= 0x41 && result[index] <= 0x5A {
        result[index] |= 0x20
    }
    return result
}
