import Testing

@testable import ASGI

@Suite("ASGI types")
struct ASGITypesTests {
    /// Headers keep order, repeated names and raw bytes; lookups ignore ASCII case.
    @Test func headersKeepOrderRepeatsAndBytes() {
        var headers: ASGIHeaders = [("Content-Type", "text/plain"), ("set-cookie", "a=1")]
        headers.append(ASGIHeader(name: Array("set-cookie".utf8), value: [0x62, 0x3D, 0xE9]))
        #expect(headers.count == 3)
        #expect(headers["content-type"] == "text/plain")
        #expect(headers.values(for: "Set-Cookie") == ["a=1", "b=\u{E9}"])
        #expect(headers[2].value == [0x62, 0x3D, 0xE9])
    }

    /// The spec's defaults.
    @Test func scopeAndEventDefaults() {
        let http = HTTPScope()
        #expect(http.scheme == "http" && http.rootPath == "" && http.asgi.version == "3.0" && http.asgi.specVersion == "2.5")
        #expect(WebSocketScope().scheme == "ws")
        #expect(LifespanScope().asgi.specVersion == "2.0")
        #expect(ReceiveEvent.httpRequest() == .httpRequest(body: [], moreBody: false))
        #expect(ReceiveEvent.websocketDisconnect() == .websocketDisconnect(code: 1005, reason: ""))
        #expect(SendEvent.websocketClose() == .websocketClose(code: 1000, reason: ""))
        #expect(SendEvent.httpResponseBody().type == "http.response.body")
    }

    /// Events out of order are clear errors: body before start, start twice, anything after the end.
    @Test func responseOrderIsEnforced() throws {
        var state = HTTPResponseState()
        #expect(throws: ASGIProtocolError.self) { try state.validate(.httpResponseBody()) }
        try state.validate(.httpResponseStart(status: 200))
        #expect(throws: ASGIProtocolError.self) { try state.validate(.httpResponseStart(status: 200)) }
        try state.validate(.httpResponseBody(body: [1], moreBody: true))
        try state.validate(.httpResponseBody())
        #expect(state.isComplete)
        let error = #expect(throws: ASGIProtocolError.self) { try state.validate(.httpResponseBody()) }
        #expect(error?.message.contains("already complete") == true)
    }

    /// Trailers must be announced and come after the final body.
    @Test func trailersFollowTheAnnouncement() throws {
        var state = HTTPResponseState()
        try state.validate(.httpResponseStart(status: 200, trailers: true))
        #expect(throws: ASGIProtocolError.self) { try state.validate(.httpResponseTrailers()) }
        try state.validate(.httpResponseBody())
        #expect(!state.isComplete)
        try state.validate(.httpResponseTrailers(headers: [("x-checksum", "1")]))
        #expect(state.isComplete)
    }

    /// Every server and adapter fills `path` from the raw path the same way: escapes decoded,
    /// malformed ones kept byte for byte, invalid UTF-8 replaced.
    @Test func decodedPath() {
        #expect(HTTPScope.decodedPath(Array("/a%2Fb".utf8)) == "/a/b")
        #expect(HTTPScope.decodedPath(Array("/caf%C3%A9%20menu".utf8)) == "/café menu")
        #expect(HTTPScope.decodedPath(Array("/a%zzb%+1%4".utf8)) == "/a%zzb%+1%4")
        #expect(HTTPScope.decodedPath(Array("/%".utf8)) == "/%")
        #expect(HTTPScope.decodedPath(Array("/%ff".utf8)) == "/\u{FFFD}")
        #expect(HTTPScope.decodedPath(Array("/plain".utf8)[1...]) == "plain")
    }
}
