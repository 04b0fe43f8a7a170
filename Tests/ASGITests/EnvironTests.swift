import ASGI
import Logging
import Testing

@Suite("Environ")
struct EnvironTests {
    private func environ(_ scope: HTTPScope) throws -> Environ {
        try Environ(scope: scope, input: WSGIInput(bytes: []), errors: WSGIErrors(logger: Logger(label: "test")))
    }

    /// The CGI variables a server builds from a scope.
    @Test func cgiVariables() throws {
        let scope = HTTPScope(
            method: "POST",
            scheme: "https",
            path: "/shop/cart",
            rawPath: bytes("/shop/cart"),
            queryString: bytes("id=3&x=%20"),
            rootPath: "/shop",
            headers: [("content-type", "text/plain"), ("content-length", "5"), ("host", "example.org")],
            client: ASGIAddress(host: "10.0.0.1", port: 51000),
            server: ASGIAddress(host: "127.0.0.1", port: 8443)
        )
        let environ = try environ(scope)
        #expect(environ["REQUEST_METHOD"] == "POST")
        #expect(environ["SCRIPT_NAME"] == "/shop")
        #expect(environ["PATH_INFO"] == "/cart")
        #expect(environ["QUERY_STRING"] == "id=3&x=%20")
        #expect(environ["REQUEST_URI"] == "/shop/cart?id=3&x=%20")
        #expect(environ["CONTENT_TYPE"] == "text/plain")
        #expect(environ["CONTENT_LENGTH"] == "5")
        #expect(environ["HTTP_HOST"] == "example.org")
        #expect(environ["HTTP_CONTENT_TYPE"] == nil)
        #expect(environ["REMOTE_ADDR"] == "10.0.0.1" && environ["REMOTE_PORT"] == "51000")
        #expect(environ["SERVER_NAME"] == "127.0.0.1" && environ["SERVER_PORT"] == "8443")
        #expect(environ["HTTPS"] == "on")
        #expect(environ.urlScheme == "https")
    }

    /// Without a server address the port follows the scheme.
    @Test func defaultServer() throws {
        #expect(try environ(HTTPScope(scheme: "https"))["SERVER_PORT"] == "443")
        #expect(try environ(HTTPScope())["SERVER_PORT"] == "80")
        #expect(try environ(HTTPScope())["SERVER_NAME"] == "localhost")
    }

    /// A root path that is only a prefix of a path segment is not stripped.
    @Test func rootPathMatchesWholeSegments() throws {
        let environ = try environ(HTTPScope(path: "/shopping", rootPath: "/shop"))
        #expect(environ["PATH_INFO"] == "/shopping")
    }

    /// Reads: sized, whole, by line.
    @Test func inputReads() throws {
        let input = WSGIInput(bytes: bytes("line one\nline two\nrest"))
        #expect(try input.readLine() == bytes("line one\n"))
        #expect(try input.read(4) == bytes("line"))
        #expect(try input.readLine() == bytes(" two\n"))
        #expect(try input.read() == bytes("rest"))
        #expect(try input.read() == [])
        #expect(try input.readLine() == nil)
    }
}
