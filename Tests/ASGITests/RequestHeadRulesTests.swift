@_spi(ASGIFrontend) import ASGI
import Testing

/// RFC 9112's rules for a request head, as every frontend applies them (no sockets).
@Suite("Request head rules")
struct RequestHeadRulesTests {
    private static func head(_ target: String, version: String = "1.1", headers: ASGIHeaders) -> ASGIRequestHead {
        ASGIRequestHead(
            method: "GET",
            httpVersion: version,
            scheme: "http",
            target: RequestTarget(target),
            rootPath: "",
            headers: headers,
            client: nil,
            server: nil
        )
    }

    @Test("Host: unique, required in HTTP/1.1, optional in HTTP/1.0")
    func host() throws {
        var duplicate = Self.head("/", headers: [("host", "good"), ("Host", "evil")])
        #expect(throws: RequestHeadProblem.duplicateHost) { try duplicate.applyRequestRules() }
        var old = Self.head("/", version: "1.0", headers: [("host", "a"), ("host", "b")])
        #expect(throws: RequestHeadProblem.duplicateHost) { try old.applyRequestRules() }
        var missing = Self.head("/", headers: [("accept", "*/*")])
        #expect(throws: RequestHeadProblem.missingHost) { try missing.applyRequestRules() }
        var missingAbsolute = Self.head("http://a.example/", headers: [])
        #expect(throws: RequestHeadProblem.missingHost) { try missingAbsolute.applyRequestRules() }
        var none10 = Self.head("/", version: "1.0", headers: [])
        try none10.applyRequestRules()
        #expect(none10.headers.isEmpty)
        #expect(RequestHeadProblem.duplicateHost.response.status == 400)
    }

    @Test("An absolute-form target's authority replaces Host")
    func absoluteForm() throws {
        var head = Self.head("http://good.example:8080/p?q", headers: [("accept", "*/*"), ("Host", "evil")])
        try head.applyRequestRules()
        #expect(head.headers.elements == [ASGIHeader("accept", "*/*"), ASGIHeader("Host", "good.example:8080")])
        var old = Self.head("http://good.example/p", version: "1.0", headers: [])
        try old.applyRequestRules()
        #expect(old.headers["host"] == "good.example")
    }

    @Test("A NUL in the decoded path is refused; an escaped percent is not a NUL")
    func nul() throws {
        var nul = Self.head("/a%00b", headers: [("host", "x")])
        #expect(throws: RequestHeadProblem.nulInPath) { try nul.applyRequestRules() }
        var percent = Self.head("/a%2500b", headers: [("host", "x")])
        try percent.applyRequestRules()
        #expect(percent.target.path == "/a%00b")
    }

    @Test(
        "A dot-segment in the decoded path is refused (400), spelled plainly or escaped; dots inside a segment are not one",
        arguments: ["/ws/../x", "/ws/./x", "/..", "/a/.", "/ws/%2e%2e/x", "/ws/%2E./x", "/ws/..%2fx", "/a/%2e"]
    )
    func dotSegments(target: String) throws {
        var head = Self.head(target, headers: [("host", "x")])
        #expect(throws: RequestHeadProblem.dotSegmentInPath) { try head.applyRequestRules() }
        #expect(RequestHeadProblem.dotSegmentInPath.response.status == 400)
    }

    @Test("Dots that are no dot-segment pass", arguments: ["/a..b", "/.well-known/x", "/a/...", "/x.", "/%2e%2e%2e", "/"])
    func noDotSegments(target: String) throws {
        var head = Self.head(target, headers: [("host", "x")])
        try head.applyRequestRules()
        #expect(head.target.pathProblem == nil)
    }
}

/// The one rule for how long a server waits for request body bytes.
@Suite("Body read clock")
struct BodyReadClockTests {
    @Test("The read timeout bounds each wait; the minimum rate bounds the total wait after its grace")
    func allowance() {
        var both = BodyReadClock(readTimeout: .seconds(60), minimumRate: MinimumDataRate(bytesPerSecond: 240, gracePeriod: .seconds(5)))
        #expect(both.allowance == .seconds(5))
        both.record(bytes: 2_400, waited: .seconds(1))
        #expect(both.allowance == .seconds(9))
        both.record(bytes: 0, waited: .seconds(20))
        #expect(both.allowance == .zero)

        var timeoutOnly = BodyReadClock(readTimeout: .seconds(2), minimumRate: nil)
        timeoutOnly.record(bytes: 10, waited: .seconds(100))
        #expect(timeoutOnly.allowance == .seconds(2))
        #expect(BodyReadClock(readTimeout: nil, minimumRate: nil).allowance == nil)
        #expect(MinimumDataRate(bytesPerSecond: 0, gracePeriod: .zero).bytesPerSecond == 1)
    }
}
