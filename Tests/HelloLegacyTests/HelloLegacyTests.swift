import ASGI
import ASGITesting
import Testing

@testable import HelloLegacy

/// The HelloLegacy example's form, in process: hostile posts get a normal answer (a `curl -d '='`
/// once trapped the whole server), and the next normal request is still served.
@Suite struct HelloLegacyTests {
    let app = WSGIToASGI(HelloLegacy.app)

    private func greet(
        _ body: [UInt8],
        contentType: String = "application/x-www-form-urlencoded",
        headers extra: ASGIHeaders = []
    ) async throws -> TestResponse {
        var headers: ASGIHeaders = [("content-type", contentType)]
        headers.elements += extra.elements
        return try await HTTPCommunicator(application: app, method: "POST", path: "/greet", body: body, headers: headers)
            .getResponse(timeout: .seconds(30))
    }

    private func greet(_ body: String) async throws -> TestResponse {
        try await greet(Array(body.utf8))
    }

    private func expectGreeting(_ response: TestResponse, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 200, sourceLocation: sourceLocation)
        #expect(response.text.contains("<h1>Hello, \(name)!</h1>"), "\(response.text)", sourceLocation: sourceLocation)
    }

    @Test func normalGreeting() async throws {
        expectGreeting(try await greet("name=Ada+Lovelace"), "Ada Lovelace")
    }

    @Test func hostileFormsGetANormalAnswer() async throws {
        expectGreeting(try await greet("="), "stranger")
        expectGreeting(try await greet(""), "stranger")
        expectGreeting(try await greet("&&&"), "stranger")
        expectGreeting(try await greet("%"), "stranger")
        expectGreeting(try await greet("name"), "stranger")
        expectGreeting(try await greet("name=%"), "%")
        expectGreeting(try await greet("name=%E"), "%E")
        expectGreeting(try await greet("name=%zz"), "%zz")
        expectGreeting(try await greet("=&name==&="), "=")
        expectGreeting(try await greet([UInt8]("name=".utf8) + [0xFF, 0xC3]), "\u{FFFD}\u{FFFD}")
        expectGreeting(try await greet("name=%3Cscript%3Ealert(1)%3C/script%3E"), "&lt;script&gt;alert(1)&lt;/script&gt;")
        expectGreeting(try await greet("name=a&name=b"), "a")
        // Still served normally afterwards.
        expectGreeting(try await greet("name=Grace"), "Grace")
    }

    @Test func oversizedFormsAre413() async throws {
        let tenThousand = try await greet((0..<10_000).map { "f\($0)=x" }.joined(separator: "&"))
        #expect(tenThousand.status == 413)
        #expect(tenThousand.text.contains("1000 fields"))
        let huge = try await greet(Array("name=".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 2 * 1024 * 1024))
        #expect(huge.status == 413)
        expectGreeting(try await greet("name=after"), "after")
    }

    @Test func lyingAndBrokenBodiesAre400() async throws {
        let lying = try await greet(Array("name=x".utf8), headers: [("content-length", "100")])
        #expect(lying.status == 400)
        #expect(lying.text.contains("Content-Length"))
        let multipart = try await greet(
            Array("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx".utf8),
            contentType: "multipart/form-data; boundary=b"
        )
        #expect(multipart.status == 400)
        let noBoundary = try await greet(Array("x".utf8), contentType: "multipart/form-data")
        #expect(noBoundary.status == 400)
        let goodMultipart = try await greet(
            Array("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nMulti\r\n--b--\r\n".utf8),
            contentType: "multipart/form-data; boundary=b"
        )
        expectGreeting(goodMultipart, "Multi")
        expectGreeting(try await greet("name=after"), "after")
    }

    @Test func otherRoutes() async throws {
        let index = try await HTTPCommunicator(application: app, path: "/", rootPath: "").getResponse(timeout: .seconds(30))
        #expect(index.status == 200)
        #expect(index.text.contains("action=\"/greet\""))
        let mounted = try await HTTPCommunicator(application: app, path: "/my app/", rootPath: "/my app").getResponse(timeout: .seconds(30))
        #expect(mounted.text.contains("action=\"/my%20app/greet\""))
        let missing = try await HTTPCommunicator(application: app, path: "/<b>").getResponse(timeout: .seconds(30))
        #expect(missing.status == 404)
        #expect(missing.text.contains("<p>/&lt;b&gt;</p>"))
        let stream = try await HTTPCommunicator(application: app, path: "/stream").getResponse(timeout: .seconds(30))
        #expect(stream.text == (1...5).map { "line \($0) of 5\n" }.joined())
    }
}
