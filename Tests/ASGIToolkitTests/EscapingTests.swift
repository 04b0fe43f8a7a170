import ASGIToolkit
import Testing

/// HTML escaping and percent-encoding on bytes (Python's results for many more inputs are in
/// ReferenceTests).
@Suite struct EscapingTests {
    @Test func htmlEscapesTheFiveCharacters() {
        #expect(HTML.escape("<a href=\"x\" title='y'>Tom & Jerry</a>") == "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;Tom &amp; Jerry&lt;/a&gt;")
        #expect(HTML.escape("&amp;") == "&amp;amp;")
        #expect(HTML.escape("") == "")
        #expect(HTML.escape("café ☕ 😀 \u{0}") == "café ☕ 😀 \u{0}")
        #expect(HTML.escape("<é>") == "&lt;é&gt;")
    }

    @Test func htmlAppendsIntoABuffer() {
        var page = Array("<li>".utf8)
        HTML.escape("a<b", into: &page)
        HTML.escape("plain", into: &page)
        page += Array("</li>".utf8)
        #expect(String(decoding: page, as: UTF8.self) == "<li>a&lt;bplain</li>")
    }

    @Test func htmlOfBridgedAndSubstringBackedText() {
        // Text that is not stored as contiguous UTF-8 (built from scalars, or a large literal).
        var scalars = String.UnicodeScalarView()
        for scalar in "x<y & 'z'".unicodeScalars { scalars.append(scalar) }
        #expect(HTML.escape(String(scalars)) == "x&lt;y &amp; &#39;z&#39;")
        let long = String(repeating: "<&>", count: 10_000)
        #expect(HTML.escape(long).utf8.count == 10_000 * 13)
    }

    @Test func percentEncodingSets() {
        #expect(PercentEncoding.encode("a b/c?d", .component) == "a%20b%2Fc%3Fd")
        #expect(PercentEncoding.encode("a b/c?d", .path) == "a%20b/c%3Fd")
        #expect(PercentEncoding.encode("a b&c=d*~", .form) == "a+b%26c%3Dd*%7E")
        #expect(PercentEncoding.encode("€", .component) == "%E2%82%AC")
        #expect(PercentEncoding.encode([0x00, 0xFF], .component) == "%00%FF")
        #expect(PercentEncoding.encode("AZaz09-._~", .component) == "AZaz09-._~")
    }

    @Test func percentDecodingKeepsMalformedEscapes() {
        #expect(PercentEncoding.decode("caf%C3%A9%2") == "café%2")
        #expect(PercentEncoding.decode("%") == "%")
        #expect(PercentEncoding.decode("%zz%4") == "%zz%4")
        #expect(PercentEncoding.decode("a+b") == "a+b")
        #expect(PercentEncoding.decode("a+b", plusAsSpace: true) == "a b")
        #expect(PercentEncoding.decode("%FF") == "\u{FFFD}")
        #expect(PercentEncoding.decodeBytes(Array("%FF%00%".utf8)) == [0xFF, 0x00, UInt8(ascii: "%")])
    }
}
