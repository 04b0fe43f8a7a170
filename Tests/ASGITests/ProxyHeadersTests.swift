import ASGITesting
import Logging
import TestSupport
import Testing

@testable import ASGI

@Suite("IPAddress and TrustedProxies")
struct TrustedProxiesTests {
    @Test(
        "Addresses parse strictly; IPv4 and IPv4-mapped IPv6 are the same address",
        arguments: [
            ("127.0.0.1", true), ("0.0.0.0", true), ("255.255.255.255", true), ("::1", true), ("::", true),
            ("2001:db8::1", true), ("2001:DB8:0:0:0:0:0:1", true), ("::ffff:10.1.2.3", true), ("fe80::1:2:3:4:5", true),
            ("1:2:3:4:5:6:7:8", true), ("1:2:3:4:5:6:1.2.3.4", true),
            ("", false), ("256.0.0.1", false), ("1.2.3", false), ("1.2.3.4.5", false), ("01.2.3.4", false), ("1.2.3.4 ", false),
            ("1..2.3", false), ("1.2.3.", false), ("a.b.c.d", false), (":::", false), ("1::2::3", false), ("12345::", false),
            ("1:2:3:4:5:6:7:8:9", false), ("1:2:3:4:5:6:7", false), ("::1%eth0", false), ("localhost", false), ("[::1]", false),
            ("::1.2.3.4.5", false), ("1.2.3.4::", false), ("g::1", false), ("1:2:3:4:5:6:7:8::", false),
        ]
    )
    func parsing(text: String, valid: Bool) {
        #expect((IPAddress(text) != nil) == valid, "\(text)")
    }

    @Test func equivalentForms() {
        #expect(IPAddress("::ffff:127.0.0.1") == IPAddress("127.0.0.1"))
        #expect(IPAddress("::FFFF:7f00:1") == IPAddress("127.0.0.1"))
        #expect(IPAddress("2001:db8::1") == IPAddress("2001:0db8:0000:0000:0000:0000:0000:0001"))
        #expect(IPAddress("1::") == IPAddress("1:0:0:0:0:0:0:0"))
        #expect(IPAddress("::1")?.bits == 1)
        #expect(IPAddress("1.2.3.4")?.isIPv4 == true)
        #expect(IPAddress("::1")?.isIPv4 == false)
    }

    @Test func listsMatchAddressesAndNetworks() throws {
        let proxies = try TrustedProxies(" 127.0.0.1 , 10.0.0.0/8,fd00::/8, 192.0.2.128/25")
        #expect(proxies.description == "127.0.0.1,10.0.0.0/8,fd00::/8,192.0.2.128/25")
        for trusted in ["127.0.0.1", "::ffff:127.0.0.1", "10.0.0.1", "10.255.255.255", "fd12::3", "192.0.2.200"] {
            #expect(proxies.trusts(trusted), "\(trusted)")
        }
        for untrusted in ["127.0.0.2", "11.0.0.1", "fe00::1", "192.0.2.127", "::1", "", "garbage", "10.0.0.1:80"] {
            #expect(!proxies.trusts(untrusted), "\(untrusted)")
        }
        #expect(try TrustedProxies("0.0.0.0/0").trusts("203.0.113.9"))
        #expect(try !TrustedProxies("0.0.0.0/0").trusts("2001:db8::1"))
        #expect(try TrustedProxies("::/0").trusts("2001:db8::1"))
        #expect(TrustedProxies.all.trusts("anything at all"))
        #expect(TrustedProxies.localhost.trusts("127.0.0.1"))
        #expect(!TrustedProxies.localhost.trusts("::1"))
        #expect(try TrustedProxies("*").trustsEveryone)
    }

    @Test(
        "Bad lists are refused with a message that names the entry",
        arguments: [
            ("", "empty"), ("127.0.0.1,", "empty entry"), ("localhost", "'localhost' is not an IP address"),
            ("10.0.0.1/8", "e.g. 10.0.0.0/8"), ("10.0.0.0/33", "is not a network"), ("10.0.0.0/", "is not a network"),
            ("10.0.0.0/-1", "is not a network"), ("fd00::1/8", "e.g. fd00:"), ("1.2.3.4/8/8", "is not a network"),
        ]
    )
    func badLists(list: String, message: String) {
        do {
            _ = try TrustedProxies(list)
            Issue.record("'\(list)' was accepted")
        } catch let error as ProxyHeadersError {
            #expect(error.code == .invalidTrustedProxy)
            #expect(error.message.contains(message), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite("ProxyHeaders")
struct ProxyHeadersTests {
    /// Answers with the client and scheme the application sees, as `host port scheme`.
    static let echo = ASGIApp { scope, receive, send in
        let (client, scheme): (ASGIAddress?, String)
        switch scope {
        case .http(let http): (client, scheme) = (http.client, http.scheme)
        case .websocket(let websocket): (client, scheme) = (websocket.client, websocket.scheme)
        case .lifespan: return
        }
        _ = try await receive()
        let text = "\(client?.host ?? "-") \(client?.port.map(String.init) ?? "-") \(scheme)"
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
        try await send(.httpResponseBody(body: Array(text.utf8)))
    }

    func seen(peer: String? = "127.0.0.1", headers: ASGIHeaders, trusting proxies: TrustedProxies = .localhost) async throws -> String {
        let client = peer.map { ASGIAddress(host: $0, port: 40000) }
        let response = try await HTTPCommunicator(
            application: ProxyHeaders(Self.echo, trustedProxies: proxies),
            path: "/",
            headers: headers,
            client: client
        ).getResponse(timeout: .seconds(10))
        return response.text
    }

    @Test func trustedPeerGivesClientAndScheme() async throws {
        #expect(try await seen(headers: [("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "https")]) == "203.0.113.9 0 https")
        #expect(try await seen(headers: [("X-Forwarded-For", "203.0.113.9:4711"), ("X-Forwarded-Proto", "HTTPS")]) == "203.0.113.9 4711 https")
        #expect(try await seen(headers: [("x-forwarded-for", "[2001:db8::7]:8080")]) == "2001:db8::7 8080 http")
        #expect(try await seen(headers: [("x-forwarded-for", "2001:db8::7")]) == "2001:db8::7 0 http")
        #expect(try await seen(headers: [("x-forwarded-proto", "http")]) == "127.0.0.1 40000 http")
        // A dual-stack listener reports an IPv4 peer in mapped form; it is still 127.0.0.1.
        #expect(try await seen(peer: "::ffff:127.0.0.1", headers: [("x-forwarded-for", "198.51.100.1")]) == "198.51.100.1 0 http")
    }

    /// A client that talks to the server directly can write anything into these headers.
    @Test func spoofedHeadersFromAnUntrustedPeerAreIgnored() async throws {
        let spoof: ASGIHeaders = [("x-forwarded-for", "10.0.0.1"), ("x-forwarded-proto", "https")]
        #expect(try await seen(peer: "203.0.113.66", headers: spoof) == "203.0.113.66 40000 http")
        #expect(try await seen(peer: "127.0.0.2", headers: spoof) == "127.0.0.2 40000 http")
        #expect(try await seen(peer: nil, headers: spoof) == "- - http")
        #expect(try await seen(peer: "not an address", headers: spoof) == "not an address 40000 http")
    }

    /// Each proxy appends the address it saw; only the hops the operator trusts are skipped, so a
    /// client cannot push a fake address in front of its own.
    @Test func rightMostUntrustedHopIsTheClient() async throws {
        let chain = try TrustedProxies("127.0.0.1, 10.0.0.0/8")
        #expect(try await seen(headers: [("x-forwarded-for", "6.6.6.6, 198.51.100.20, 10.0.0.5")], trusting: chain) == "198.51.100.20 0 http")
        // Two header lines are one list, in order.
        #expect(
            try await seen(headers: [("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.20, 10.0.0.5")], trusting: chain)
                == "198.51.100.20 0 http"
        )
        // Every hop trusted: the left-most is the client.
        #expect(try await seen(headers: [("x-forwarded-for", "10.0.0.9, 10.0.0.5")], trusting: chain) == "10.0.0.9 0 http")
        // "*" trusts every hop: the left-most is the client.
        #expect(
            try await seen(peer: "203.0.113.1", headers: [("x-forwarded-for", "198.51.100.1, 198.51.100.2")], trusting: .all) == "198.51.100.1 0 http"
        )
    }

    @Test(
        "Garbage never becomes the client, and never traps",
        arguments: [
            "", " ", ",", "unknown", "_hidden", "198.51.100.1, unknown", "198.51.100.1,,", "1.2.3.4:99999", "1.2.3.4:",
            "1.2.3.4:-1", "[::1", "[::1]x", "[::1]:", "[zz::]:80", "999.1.1.1", "<script>", "\u{00FF}\u{0000}", "1.2.3.4 5.6.7.8",
        ]
    )
    func garbageIsIgnored(value: String) async throws {
        #expect(
            try await seen(headers: ASGIHeaders([ASGIHeader(name: Array("x-forwarded-for".utf8), value: Array(value.utf8))]))
                == "127.0.0.1 40000 http"
        )
    }

    /// Long values (the server's header limit bounds them) are walked, not trusted blindly.
    @Test func longGarbageIsIgnored() async throws {
        for value in [String(repeating: "9", count: 10_000), String(repeating: "1.2.3.4,", count: 2_000) + "junk"] {
            #expect(try await seen(headers: [("x-forwarded-for", value)]) == "127.0.0.1 40000 http")
        }
        let long = String(repeating: "10.0.0.1,", count: 2_000) + "198.51.100.9"
        #expect(try await seen(headers: [("x-forwarded-for", long)]) == "198.51.100.9 0 http")
    }

    @Test("Unusable schemes are ignored", arguments: ["", "ftp", "https, http", "https,", "javascript", "HTTPS x", "h\u{0000}ttps"])
    func badProtoIsIgnored(value: String) async throws {
        #expect(
            try await seen(headers: ASGIHeaders([ASGIHeader(name: Array("x-forwarded-proto".utf8), value: Array(value.utf8))]))
                == "127.0.0.1 40000 http"
        )
    }

    @Test func webSocketScopesGetWebSocketSchemes() async throws {
        let seen = Recorder<String>()
        let app = ProxyHeaders(
            ASGIApp { scope, _, _ in
                if case .websocket(let websocket) = scope { seen.append("\(websocket.client?.host ?? "-") \(websocket.scheme)") }
            }
        )
        let scope = WebSocketScope(
            path: "/ws",
            headers: [("x-forwarded-for", "198.51.100.3"), ("x-forwarded-proto", "https")],
            client: ASGIAddress(host: "127.0.0.1", port: 1)
        )
        try await app(scope: .websocket(scope), receive: { .websocketConnect }, send: { _ in })
        #expect(seen.values == ["198.51.100.3 wss"])
    }

    /// The `WSGIToASGI` environ follows the rewritten scope: `REMOTE_ADDR`, `wsgi.url_scheme`, `HTTPS`.
    @Test func wsgiEnvironFollows() async throws {
        let legacy = WSGIApp { environ, start in
            _ = try start("200 OK", [], nil)
            return [Array("\(environ["REMOTE_ADDR"] ?? "-") \(environ.urlScheme) \(environ["HTTPS"] ?? "-")".utf8)]
        }
        let response = try await HTTPCommunicator(
            application: ProxyHeaders(WSGIToASGI(legacy)),
            path: "/",
            headers: [("x-forwarded-for", "198.51.100.4"), ("x-forwarded-proto", "https")]
        ).getResponse(timeout: .seconds(10))
        #expect(response.text == "198.51.100.4 https on")
    }
}
