import ASGI
import ASGIToolkit
import Foundation
import Testing

/// Cookie parsing (RFC 6265 §4.2, read as werkzeug reads it) and Set-Cookie building (§4.1).
@Suite struct CookieTests {
    private func pairs(_ header: String) -> [[String]] {
        Cookies(header: header).map { [$0.name, $0.value] }
    }

    @Test func rfc6265Examples() {
        // §3.1 / §4.2.2.
        #expect(pairs("SID=31d4d96e407aad42; lang=en-US") == [["SID", "31d4d96e407aad42"], ["lang", "en-US"]])
        let cookies = Cookies(header: "session=abc; theme=\"dark\"; session=old")
        #expect(cookies["session"] == "abc")
        #expect(cookies.values(for: "session") == ["abc", "old"])
        #expect(cookies["theme"] == "dark")
        #expect(cookies["missing"] == nil)
    }

    @Test func lenientRule() {
        #expect(pairs("a=1;b=2") == [["a", "1"], ["b", "2"]])
        #expect(pairs("  a = 1 ;\tb=\t2 ") == [["a", "1"], ["b", "2"]])
        #expect(pairs("a") == [["a", ""]])
        #expect(pairs("=b; ;; c=") == [["c", ""]])
        #expect(pairs("a=b=c") == [["a", "b=c"]])
        #expect(pairs("a=\"x;y\"; b=1") == [["a", "x;y"], ["b", "1"]])
        #expect(pairs("a=\"\\101\\\"q\"") == [["a", "A\"q"]])
        #expect(pairs("a=\"unterminated; b=2") == [["a", "\"unterminated"], ["b", "2"]])
        #expect(pairs("a=\"x\"y; b=2") == [["a", "\"x\"y"], ["b", "2"]])
        #expect(pairs("") == [])
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        let cookies = Cookies(header: utf8("caf\u{E9}=") + [0xFF] + utf8("; b=") + [0xC3])
        #expect(cookies.map { [$0.name, $0.value] } == [["café", "\u{FFFD}"], ["b", "\u{FFFD}"]])
        // An octal escape that makes a byte that is not UTF-8.
        #expect(pairs("a=\"\\377\"") == [["a", "\u{FFFD}"]])
        #expect(pairs("a=\"\\303\\251\"") == [["a", "é"]])
    }

    @Test func fromEnvironAndScope() {
        let environ = Environ(variables: ["HTTP_COOKIE": String(latin1: utf8("a=caf\u{E9}; b=2"))])
        #expect(Cookies(environ: environ).map { [$0.name, $0.value] } == [["a", "café"], ["b", "2"]])
        let scope = HTTPScope(headers: [("cookie", "a=1"), ("x-other", "z"), ("Cookie", "b=2")])
        #expect(Cookies(scope: scope).map { [$0.name, $0.value] } == [["a", "1"], ["b", "2"]])
    }

    // MARK: Set-Cookie

    @Test func setCookieDefaultsAndAttributes() throws {
        #expect(try SetCookie(name: "SID", value: "31d4d96e407aad42").headerValue() == "SID=31d4d96e407aad42; Path=/; HttpOnly; SameSite=Lax")
        let full = SetCookie(
            name: "lang",
            value: "en-US",
            maxAge: 3600,
            expires: Date(timeIntervalSince1970: 1_623_233_894),
            path: "/docs",
            domain: "example.com",
            secure: true,
            httpOnly: false,
            sameSite: .strict
        )
        #expect(
            try full.headerValue()
                == "lang=en-US; Max-Age=3600; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Domain=example.com; Path=/docs; Secure; SameSite=Strict"
        )
        let bare = SetCookie(name: "a", value: "\"quoted\"", path: nil, httpOnly: false, sameSite: nil)
        #expect(try bare.headerValue() == "a=\"quoted\"")
        // RFC 9110 §5.6.7's example date.
        let rfcDate = SetCookie(name: "a", value: "b", expires: Date(timeIntervalSince1970: 784_111_777), path: nil, httpOnly: false, sameSite: nil)
        #expect(try rfcDate.headerValue() == "a=b; Expires=Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(
            try SetCookie(name: "n", value: "v", sameSite: SetCookie.SameSite.none).with(secure: true).headerValue().hasSuffix(
                "; Secure; HttpOnly; SameSite=None"
            )
        )
    }

    @Test func deletion() throws {
        #expect(
            try SetCookie.deletion(name: "session").headerValue()
                == "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
        )
    }

    @Test func headerInjectionIsRefused() throws {
        for value in ["a\r\nSet-Cookie: admin=1", "a; Domain=evil.example", "a b", "a,b", "a\\b", "caf\u{E9}", "\"", "a\u{0}"] {
            #expect(throws: CookieError.invalidValue, "value \(value.debugDescription)") { try SetCookie(name: "n", value: value).headerValue() }
        }
        for name in ["", "a=b", "a b", "a;b", "a\r\n", "é", "(x)"] {
            #expect(throws: CookieError.invalidName, "name \(name.debugDescription)") { try SetCookie(name: name, value: "v").headerValue() }
        }
        #expect(throws: CookieError.invalidAttribute) { try SetCookie(name: "n", value: "v", path: "/a;Secure").headerValue() }
        #expect(throws: CookieError.invalidAttribute) { try SetCookie(name: "n", value: "v", path: "/\r\nX: y").headerValue() }
        #expect(throws: CookieError.invalidAttribute) { try SetCookie(name: "n", value: "v", domain: "a b.example").headerValue() }
        #expect(throws: CookieError.invalidAttribute) { try SetCookie(name: "n", value: "v", domain: "").headerValue() }
        // Percent-encoding makes any value safe.
        let encoded = PercentEncoding.encode("a\r\nb; c=d é", .component)
        #expect(try SetCookie(name: "n", value: encoded).headerValue().hasPrefix("n=a%0D%0Ab%3B%20c%3Dd%20%C3%A9;"))
    }

    @Test func cookiesBrowsersWouldDropAreRefused() throws {
        #expect(throws: CookieError.tooLarge) { try SetCookie(name: "n", value: String(repeating: "x", count: 4096)).headerValue() }
        #expect(throws: CookieError.insecure) { try SetCookie(name: "n", value: "v", sameSite: SetCookie.SameSite.none).headerValue() }
        #expect(throws: CookieError.insecure) { try SetCookie(name: "__Secure-id", value: "v").headerValue() }
        #expect(throws: CookieError.insecure) {
            try SetCookie(name: "__Host-id", value: "v", path: "/", secure: true).with(domain: "example.com").headerValue()
        }
        #expect(throws: CookieError.insecure) { try SetCookie(name: "__Host-id", value: "v", path: "/a", secure: true).headerValue() }
        #expect(throws: Never.self) { try SetCookie(name: "__Host-id", value: "v", path: "/", secure: true).headerValue() }
    }

    @Test func expiresOutsideTheCalendarIsClamped() throws {
        let past = SetCookie(name: "a", value: "b", expires: Date(timeIntervalSince1970: -1e300), path: nil, httpOnly: false, sameSite: nil)
        #expect(try past.headerValue() == "a=b; Expires=Mon, 01 Jan 0001 00:00:00 GMT")
        let future = SetCookie(name: "a", value: "b", expires: Date(timeIntervalSince1970: .infinity), path: nil, httpOnly: false, sameSite: nil)
        #expect(try future.headerValue() == "a=b; Expires=Fri, 31 Dec 9999 23:59:59 GMT")
        let nan = SetCookie(name: "a", value: "b", expires: Date(timeIntervalSince1970: .nan), path: nil, httpOnly: false, sameSite: nil)
        #expect(try nan.headerValue() == "a=b; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    }
}

extension SetCookie {
    fileprivate func with(secure: Bool) -> SetCookie {
        var copy = self
        copy.secure = secure
        return copy
    }

    fileprivate func with(domain: String) -> SetCookie {
        var copy = self
        copy.domain = domain
        return copy
    }
}
