import ASGI
import Foundation
import Glibc
import Logging
import Testing

@testable import ASGIFastCGI

/// Parses `params` the way the worker parses libfcgi's envp.
func parseHead(
    _ params: [(String, String)],
    rootPath: String? = nil,
    maxCount: Int = 512,
    maxBytes: Int = 1 << 20
) throws(RequestHead.Refusal) -> RequestHead {
    var pointers: [UnsafeMutablePointer<CChar>?] = params.map { strdup("\($0.0)=\($0.1)") } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return try pointers.withUnsafeMutableBufferPointer { buffer throws(RequestHead.Refusal) in
        try RequestHead.parse(buffer.baseAddress!, rootPath: rootPath, maxCount: maxCount, maxBytes: maxBytes)
    }
}

/// What Debian's /etc/nginx/fastcgi_params sends for `GET /shop/items/7?color=red` from 10.0.0.9.
let nginxParams: [(String, String)] = [
    ("FCGI_ROLE", "RESPONDER"),
    ("QUERY_STRING", "color=red"),
    ("REQUEST_METHOD", "GET"),
    ("CONTENT_TYPE", ""),
    ("CONTENT_LENGTH", ""),
    ("SCRIPT_NAME", "/shop/items/7"),
    ("REQUEST_URI", "/shop/items/7?color=red"),
    ("DOCUMENT_URI", "/shop/items/7"),
    ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
    ("SERVER_PROTOCOL", "HTTP/1.1"),
    ("REQUEST_SCHEME", "http"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "nginx/1.22.1"),
    ("REMOTE_ADDR", "10.0.0.9"),
    ("REMOTE_PORT", "51234"),
    ("SERVER_ADDR", "10.0.0.1"),
    ("SERVER_PORT", "8080"),
    ("SERVER_NAME", "shop.example"),
    ("REDIRECT_STATUS", "200"),
    ("HTTP_HOST", "shop.example:8080"),
    ("HTTP_USER_AGENT", "curl/7.88.1"),
    ("HTTP_ACCEPT", "*/*"),
    ("HTTP_X_FORWARDED_FOR", "203.0.113.5"),
    ("HTTP_COOKIE", "a=1"),
]

@Suite("FastCGI parameters to scope and environ")
struct RequestHeadTests {
    @Test("nginx's default parameters: the path comes from REQUEST_URI, nginx's SCRIPT_NAME (the whole path) is not a mount point")
    func defaultParameters() throws {
        let head = try parseHead(nginxParams)
        let scope = head.scope
        #expect(scope.method == "GET")
        #expect(scope.path == "/shop/items/7")
        #expect(scope.rootPath == "")
        #expect(scope.rawPath == Array("/shop/items/7".utf8))
        #expect(scope.queryString == Array("color=red".utf8))
        #expect(scope.scheme == "http")
        #expect(scope.httpVersion == "1.1")
        #expect(scope.client == ASGIAddress(host: "10.0.0.9", port: 51234))
        #expect(scope.server == ASGIAddress(host: "shop.example", port: 8080))
        #expect(scope.headers.map(\.nameString) == ["host", "user-agent", "accept", "x-forwarded-for", "cookie"])
        #expect(scope.headers["X-Forwarded-For"] == "203.0.113.5")
        #expect(head.contentLength == nil)
        let extras = Dictionary(head.extraVariables.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        #expect(extras["DOCUMENT_ROOT"] == "/usr/share/nginx/html")
        #expect(extras["SERVER_ADDR"] == "10.0.0.1")
        #expect(extras["SCRIPT_NAME"] == nil)
        #expect(extras["REQUEST_METHOD"] == nil)
        #expect(extras["FCGI_ROLE"] == "RESPONDER")
        #expect(head.requestURI == "/shop/items/7?color=red")
    }

    @Test("The environ is built exactly as the HTTP path builds it from the same scope")
    func environMatchesHTTPPath() throws {
        let head = try parseHead(nginxParams + [("HTTP_ACCEPT_LANGUAGE", "fr")])
        let environ = try Environ(scope: head.scope, input: WSGIInput(bytes: []), errors: WSGIErrors(logger: Logger(label: "t")))
        // A scope as the HTTP server would make it for the same request.
        let http = HTTPScope(
            method: "GET",
            scheme: "http",
            path: "/shop/items/7",
            rawPath: Array("/shop/items/7".utf8),
            queryString: Array("color=red".utf8),
            rootPath: "",
            headers: [
                ("host", "shop.example:8080"), ("user-agent", "curl/7.88.1"), ("accept", "*/*"),
                ("x-forwarded-for", "203.0.113.5"), ("cookie", "a=1"), ("accept-language", "fr"),
            ],
            client: ASGIAddress(host: "10.0.0.9", port: 51234),
            server: ASGIAddress(host: "shop.example", port: 8080)
        )
        let expected = try Environ(scope: http, input: WSGIInput(bytes: []), errors: WSGIErrors(logger: Logger(label: "t")))
        #expect(environ.variables == expected.variables)
        #expect(environ["PATH_INFO"] == "/shop/items/7")
        #expect(environ["SCRIPT_NAME"] == "")
        #expect(environ["HTTP_ACCEPT_LANGUAGE"] == "fr")
        #expect(environ["CONTENT_LENGTH"] == nil)
    }

    @Test("fastcgi_split_path_info: SCRIPT_NAME and PATH_INFO from nginx win")
    func splitPathInfo() throws {
        var params = nginxParams.filter { $0.0 != "SCRIPT_NAME" }
        params += [("SCRIPT_NAME", "/shop"), ("PATH_INFO", "/items/7")]
        let head = try parseHead(params, rootPath: "/ignored")
        #expect(head.scope.rootPath == "/shop")
        #expect(head.scope.path == "/shop/items/7")
        let environ = try Environ(scope: head.scope, input: WSGIInput(bytes: []), errors: WSGIErrors(logger: Logger(label: "t")))
        #expect(environ["SCRIPT_NAME"] == "/shop")
        #expect(environ["PATH_INFO"] == "/items/7")
    }

    @Test(
        "A configured root path splits paths under it only",
        arguments: [
            ("/shop/items/7", "/shop", "/shop/items/7"),
            ("/shop", "/shop", "/shop"),
            ("/shopping/x", "", "/shopping/x"),
            ("/other", "", "/other"),
        ]
    )
    func configuredRoot(uri: String, root: String, path: String) throws {
        let head = try parseHead([("REQUEST_METHOD", "GET"), ("REQUEST_URI", uri)], rootPath: "/shop/")
        #expect(head.scope.rootPath == root)
        #expect(head.scope.path == path)
    }

    @Test("Scheme from HTTPS or REQUEST_SCHEME; HTTP versions; absolute-form request targets")
    func schemeAndVersion() throws {
        #expect(try parseHead([("HTTPS", "on")]).scope.scheme == "https")
        #expect(try parseHead([("HTTPS", "1")]).scope.scheme == "https")
        #expect(try parseHead([("HTTPS", "off")]).scope.scheme == "http")
        #expect(try parseHead([("REQUEST_SCHEME", "https")]).scope.scheme == "https")
        #expect(try parseHead([("SERVER_PROTOCOL", "HTTP/2.0")]).scope.httpVersion == "2")
        #expect(try parseHead([("SERVER_PROTOCOL", "HTTP/1.0")]).scope.httpVersion == "1.0")
        let absolute = try parseHead([("REQUEST_URI", "http://example.com/a%20b?x=1")])
        #expect(absolute.scope.path == "/a b")
        #expect(absolute.scope.queryString == Array("x=1".utf8))
    }

    @Test("Content-Length and Content-Type become headers; a bad length is refused")
    func contentHeaders() throws {
        let head = try parseHead([("CONTENT_LENGTH", "12"), ("CONTENT_TYPE", "text/plain")])
        #expect(head.contentLength == 12)
        #expect(head.scope.headers["content-length"] == "12")
        #expect(head.scope.headers["content-type"] == "text/plain")
        #expect(throws: RequestHead.Refusal.invalidContentLength("-1")) { try parseHead([("CONTENT_LENGTH", "-1")]) }
    }

    @Test("Limits on parameter count and size")
    func limits() {
        let params = (0..<10).map { ("HTTP_X_\($0)", "v") }
        #expect(throws: RequestHead.Refusal.tooManyParams(6)) { try parseHead(params, maxCount: 5) }
        #expect(throws: RequestHead.Refusal.paramsTooLarge(120)) { try parseHead([("HTTP_BIG", String(repeating: "x", count: 111))], maxBytes: 100) }
    }

    @Test("Status renderings: text lines and escaped JSON")
    func statusRendering() {
        let status = FastCGIStatus(
            address: "unix:/run/\"odd\".sock",
            uptimeSeconds: 3,
            acceptedRequests: 10,
            acceptedConnections: 4,
            listenQueue: nil,
            maxListenQueue: 2,
            listenQueueLength: 511,
            activeWorkers: 1,
            idleWorkers: 3,
            keptConnections: 1,
            totalWorkers: 4,
            maxActiveWorkers: 4,
            maxActiveReached: 2,
            slowRequests: 1,
            timedOutRequests: 0,
            abortedRequests: 0,
            rejectedRequests: 0
        )
        #expect(status.text.contains("accepted requests:     10\n"))
        #expect(status.text.contains("listen queue:          -\n"))
        let object = (try? JSONSerialization.jsonObject(with: Data(status.json.utf8))) as? [String: Any]
        #expect(object?["address"] as? String == "unix:/run/\"odd\".sock")
        #expect(object?["listen_queue"] is NSNull)
        #expect(object?["max_active_reached"] as? Int == 2)
    }

    @Test("Bind addresses parse as the command line writes them")
    func bindParsing() {
        #expect(FastCGIConfiguration.Bind("unix:/run/a.sock") == .unix(path: "/run/a.sock", mode: 0o660))
        #expect(FastCGIConfiguration.Bind("127.0.0.1:9000") == .tcp(host: "127.0.0.1", port: 9000))
        #expect(FastCGIConfiguration.Bind("[::1]:9000") == .tcp(host: "::1", port: 9000))
        #expect(FastCGIConfiguration.Bind("stdin") == .inherited)
        #expect(FastCGIConfiguration.Bind("nonsense") == nil)
        #expect(FastCGIConfiguration.Bind(":9000") == nil)
        #expect(FastCGIConfiguration.Bind.tcp(host: "::1", port: 9000).description == "[::1]:9000")
    }
}
