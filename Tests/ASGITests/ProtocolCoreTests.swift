import Logging
import TestSupport
import Testing

@_spi(ASGIFrontend) @testable import ASGI

/// The protocol rules every frontend calls, each tested alone (no sockets).
@Suite("Protocol core")
struct ProtocolCoreTests {
    @Test(
        "Content-Length: digits between optional white space; no sign, no junk, overflow apart",
        arguments: [
            ("42", ContentLength.Parsed.length(42)),
            (" 7\t", .length(7)),
            ("0", .length(0)),
            ("+5", .malformed),
            ("-1", .malformed),
            ("5 5", .malformed),
            ("5,5", .malformed),
            ("0x10", .malformed),
            ("", .malformed),
            ("  ", .malformed),
            ("12a", .malformed),
            ("99999999999999999999999", .tooLarge),
        ]
    )
    func contentLength(text: String, expected: ContentLength.Parsed) {
        #expect(ContentLength.parse(text) == expected)
    }

    @Test(
        "Request targets: split at '?', fragment dropped, absolute form keeps its authority apart",
        arguments: [
            ("/a/b?x=1", "/a/b", "/a/b", "x=1", nil as String?),
            ("/a#frag", "/a", "/a", "", nil),
            ("/a?x=1#frag", "/a", "/a", "x=1", nil),
            ("/a#f?not-query", "/a", "/a", "", nil),
            ("/caf%C3%A9%20menu?q=%20", "/caf%C3%A9%20menu", "/café menu", "q=%20", nil),
            ("/100%", "/100%", "/100%", "", nil),
            ("http://example.com:8080/p?q", "/p", "/p", "q", "example.com:8080"),
            ("https://example.com", "/", "/", "", "example.com"),
            ("http://example.com?x", "/", "/", "x", "example.com"),
            ("*", "*", "*", "", nil),
            ("", "/", "/", "", nil),
        ]
    )
    func requestTarget(target: String, rawPath: String, path: String, query: String, authority: String?) {
        let split = RequestTarget(target)
        #expect(split.rawPath == Array(rawPath.utf8))
        #expect(split.path == path)
        #expect(split.queryString == Array(query.utf8))
        #expect(split.authority.map { String(decoding: $0, as: UTF8.self) } == authority)
    }

    @Test("Root paths: whole segments only; mounting prefixes both paths")
    func rootPaths() {
        #expect(RootPath.of(path: "/shop/items", mountPoint: "/shop/") == "/shop")
        #expect(RootPath.of(path: "/shop", mountPoint: "/shop") == "/shop")
        #expect(RootPath.of(path: "/shopping", mountPoint: "/shop") == "")
        #expect(RootPath.of(path: "/x", mountPoint: "/") == "")
        // A combining mark after the '/' makes "/\u{06D7}" one Character: still under the root
        // path, which is compared as bytes (a FuzzRequestTarget finding).
        #expect(RootPath.of(path: "/shop/\u{06D7}x", mountPoint: "/shop") == "/shop")
        #expect(RootPath.contains("/shop\u{0301}", under: "/shop") == false)
        let mounted = RequestTarget("/a%20b?x").mounted(under: "/api")
        #expect(mounted.path == "/api/a b")
        #expect(mounted.rawPath == Array("/api/a%20b".utf8))
    }

    @Test("Header fields: token names; values without control characters but tab")
    func fieldValidation() {
        #expect(HTTPFieldValidator.isValidName(Array("x-custom_1".utf8)))
        #expect(!HTTPFieldValidator.isValidName(Array("bad name".utf8)))
        #expect(!HTTPFieldValidator.isValidName(Array("x:y".utf8)))
        #expect(!HTTPFieldValidator.isValidName([]))
        #expect(HTTPFieldValidator.isValidValue(Array("a\tb c".utf8) + [0xE9]))
        for control: UInt8 in [0x00, 0x0A, 0x0D, 0x01, 0x7F] {
            #expect(!HTTPFieldValidator.isValidValue([0x61, control, 0x62]))
        }
        #expect(HTTPFieldValidator.problem(with: ASGIHeader(name: Array("x".utf8), value: [0x0D, 0x0A])) != nil)
    }

    @Test("Statuses: 100 to 599; 1xx, 204 and 304 carry no body")
    func statuses() {
        #expect(HTTPStatus.isValid(100) && HTTPStatus.isValid(599))
        #expect(!HTTPStatus.isValid(99) && !HTTPStatus.isValid(600) && !HTTPStatus.isValid(1000))
        #expect(HTTPStatus.isBodiless(101) && HTTPStatus.isBodiless(204) && HTTPStatus.isBodiless(304))
        #expect(!HTTPStatus.isBodiless(200))
        #expect(HTTPStatus.statusLine(413) == "413 Content Too Large")
    }

    @Test("Response framing: declared length clamps, HEAD and bodiless statuses carry nothing, shortfall and overrun are seen, one Content-Length")
    func framing() throws {
        var declared = try ResponseFraming(status: 200, headers: [("content-length", "5")], requestMethod: "GET")
        #expect(declared.admit(3) == 3)
        #expect(!declared.isSatisfied)
        #expect(declared.completes(with: 2))
        #expect(declared.admit(4) == 2)
        #expect(declared.isSatisfied && declared.excess == 2 && declared.shortfall == nil)
        #expect(declared.overrun == 2 && declared.breaksConnection)

        var short = try ResponseFraming(status: 200, headers: [("content-length", "10")], requestMethod: "GET")
        _ = short.admit(4)
        #expect(short.shortfall == 6 && short.breaksConnection)

        var head = try ResponseFraming(status: 200, headers: [("content-length", "10")], requestMethod: "HEAD")
        #expect(head.admit(10) == 0 && head.isSatisfied && head.shortfall == nil)
        #expect(head.overrun == 0 && !head.breaksConnection)

        var noContent = try ResponseFraming(status: 204, headers: [], requestMethod: "GET")
        #expect(noContent.admit(3) == 0 && noContent.excess == 3)
        #expect(noContent.overrun == 0 && !noContent.breaksConnection)

        #expect(throws: ResponseFraming.Problem.malformedContentLength("+5")) {
            try ResponseFraming(status: 200, headers: [("content-length", "+5")], requestMethod: "GET")
        }
        #expect(throws: ResponseFraming.Problem.conflictingContentLengths("5", "6")) {
            try ResponseFraming(status: 200, headers: [("content-length", "5"), ("Content-Length", "6")], requestMethod: "GET")
        }
        #expect(throws: ResponseFraming.Problem.duplicateContentLength("5")) {
            try ResponseFraming(status: 200, headers: [("content-length", "5"), ("content-length", "5")], requestMethod: "GET")
        }
    }

    @Test("Plain answers: the reason phrase, a detail for the client where it helps, framing headers")
    func plainResponses() {
        #expect(PlainResponse.internalServerError.text == "Internal Server Error")
        let refusal = PlainResponse.declaredBodyTooLarge(2000, limit: 1000)
        #expect(refusal.status == 413)
        #expect(refusal.text == "Content Too Large: the request body of 2000 bytes is larger than the limit of 1000 bytes")
        #expect(refusal.headers["content-length"] == String(refusal.body.count))
        #expect(refusal.headers["content-type"] == "text/plain; charset=utf-8")
        #expect(PlainResponse.checkDeclaredBody(10, limit: 10) == nil)
        #expect(PlainResponse.checkDeclaredBody(11, limit: nil) == nil)
    }

    @Test("CGI variables: one reading for FastCGI parameters and environs")
    func cgiVariables() throws {
        let cgi = try CGIRequestHead.parse(
            [
                "REQUEST_METHOD": "POST", "REQUEST_URI": "/app/x%20y?a=1", "QUERY_STRING": "a=1",
                "CONTENT_LENGTH": "3", "CONTENT_TYPE": "text/plain", "HTTP_CONTENT_LENGTH": "3", "HTTP_X_TOKEN": "t",
                "SERVER_PROTOCOL": "HTTP/2.0", "HTTPS": "on", "REMOTE_ADDR": "10.0.0.9", "REMOTE_PORT": "5000",
                "SERVER_NAME": "example", "SERVER_PORT": "443", "DOCUMENT_ROOT": "/srv",
            ],
            mountPoint: "/app"
        )
        let scope = cgi.head.httpScope(state: nil, extensions: nil)
        #expect(scope.method == "POST")
        #expect(scope.path == "/app/x y" && scope.rootPath == "/app")
        #expect(scope.rawPath == Array("/app/x%20y".utf8))
        #expect(scope.httpVersion == "2" && scope.scheme == "https")
        #expect(scope.headers.values(for: "content-length") == ["3"])
        #expect(scope.headers["x-token"] == "t")
        #expect(scope.client == ASGIAddress(host: "10.0.0.9", port: 5000))
        #expect(scope.server == ASGIAddress(host: "example", port: 443))
        #expect(cgi.contentLength == 3)
        #expect(cgi.extraVariables.map(\.name) == ["DOCUMENT_ROOT"])
        #expect(throws: CGIRequestHead.Refusal.invalidContentLength("+5")) { try CGIRequestHead.parse(["CONTENT_LENGTH": "+5"]) }
        #expect(throws: CGIRequestHead.Refusal.contentLengthTooLarge("99999999999999999999")) {
            try CGIRequestHead.parse(["CONTENT_LENGTH": "99999999999999999999"])
        }
        // Without REQUEST_URI the split path stands for the target.
        let split = try CGIRequestHead.parse(["SCRIPT_NAME": "/app", "PATH_INFO": "/a b"]).head.httpScope(state: nil, extensions: nil)
        #expect(split.path == "/app/a b" && split.rootPath == "/app" && split.rawPath == Array("/app/a%20b".utf8))
        // A fragment ends a QUERY_STRING given apart as it ends a target (a FuzzCGIParams finding:
        // the HTTP server dropped it, the CGI reading kept it).
        let fragment = try CGIRequestHead.parse(["REQUEST_URI": "/q?a=1#x", "QUERY_STRING": "a=1#x"]).head.httpScope(state: nil, extensions: nil)
        #expect(fragment.queryString == Array("a=1".utf8))
        #expect(fragment.queryString == RequestTarget("/q?a=1#x").queryString)
    }

    @Test("Request ids are unique and the access record logs one line with metadata")
    func accessLog() {
        let handler = RecordingLogHandler()
        var logger = Logger(label: "access") { _ in handler }
        logger.logLevel = .info
        let first = RequestID()
        #expect(first != RequestID())
        AccessLogRecord(
            id: first,
            method: "GET",
            target: "/x?y",
            httpVersion: "1.1",
            client: ASGIAddress(host: "127.0.0.1", port: 5),
            status: 200,
            bytes: 12,
            duration: .milliseconds(3)
        ).log(to: logger)
        let entry = handler.entries.first
        #expect(entry?.message == "127.0.0.1:5 \"GET /x?y HTTP/1.1\" 200 12 3.0ms")
        #expect(entry?.metadata["asgi.request.status"] == "200")
        #expect(entry?.metadata["asgi.request.path"] == "/x?y")
        #expect(entry?.metadata["asgi.request.id"] == "\(first)")
    }
}

/// A log handler that keeps every entry with its metadata.
struct RecordingLogHandler: LogHandler {
    struct Entry: Sendable {
        var message: String
        var metadata: Logger.Metadata
    }

    private let stored = Recorder<Entry>()
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var entries: [Entry] { stored.values }

    subscript(metadataKey key: String) -> Logger.MetadataValue? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        stored.append(Entry(message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}
