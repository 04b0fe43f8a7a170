import ASGI
import ASGIToolkit
import Testing

/// application/x-www-form-urlencoded and query strings: the WHATWG URL standard's examples,
/// hostile inputs, and bodies read from a WSGI-style request.
@Suite struct URLEncodedFormTests {
    private func pairs(_ text: String, limits: FormLimits = FormLimits()) throws -> [[String]] {
        try FormFields(urlEncoded: utf8(text), limits: limits).map { [$0.name, $0.value] }
    }

    @Test func whatwgExamples() throws {
        // URL standard §5.1 and the URLSearchParams examples of §6.
        #expect(try pairs("a=b&c=d") == [["a", "b"], ["c", "d"]])
        #expect(try pairs("q=URLUtils.searchParams&topic=api") == [["q", "URLUtils.searchParams"], ["topic", "api"]])
        #expect(try pairs("a=b&a=c") == [["a", "b"], ["a", "c"]])
        #expect(try pairs("a+b=c+d") == [["a b", "c d"]])
        #expect(try pairs("%20=%20&a%2Bb=%2b") == [[" ", " "], ["a+b", "+"]])
        #expect(try pairs("%E2%82%AC=€") == [["€", "€"]])
        let fields = try FormFields(urlEncoded: utf8("key=value&key=other&single"))
        #expect(fields["key"] == "value")
        #expect(fields.values(for: "key") == ["value", "other"])
        #expect(fields["single"] == "")
        #expect(fields["missing"] == nil)
    }

    @Test func emptyNamesAndEqualsAlone() throws {
        #expect(try pairs("=") == [["", ""]])
        #expect(try pairs("==") == [["", "="]])
        #expect(try pairs("=x") == [["", "x"]])
        #expect(try pairs("a==b") == [["a", "=b"]])
        #expect(try pairs("") == [])
        #expect(try pairs("&&&") == [])
        #expect(try pairs("a&&b&") == [["a", ""], ["b", ""]])
    }

    @Test func malformedEscapesAreKeptAsTheyAre() throws {
        #expect(try pairs("%") == [["%", ""]])
        #expect(try pairs("a=%") == [["a", "%"]])
        #expect(try pairs("a=%2") == [["a", "%2"]])
        #expect(try pairs("a=%zz%4") == [["a", "%zz%4"]])
        #expect(try pairs("a%=b%%41") == [["a%", "b%A"]])
        #expect(try pairs("a=%2b+") == [["a", "+ "]])
    }

    @Test func invalidUTF8BecomesReplacementCharacters() throws {
        let fields = try FormFields(urlEncoded: [0xFF, UInt8(ascii: "=")] + utf8("%C3%28") + [0xC3])
        #expect(fields.map { [$0.name, $0.value] } == [["\u{FFFD}", "\u{FFFD}(\u{FFFD}"]])
        // "UTF-8 decode without BOM": a byte order mark stays in the name.
        #expect(try pairs("%EF%BB%BFa=1") == [["\u{FEFF}a", "1"]])
        #expect(try pairs("a=%00") == [["a", "\u{0}"]])
    }

    @Test func tenThousandFieldsStopAtTheFieldLimit() throws {
        let input = (0..<10_000).map { "f\($0)=\($0)" }.joined(separator: "&")
        #expect(throws: FormError.tooManyFields) { try FormFields(urlEncoded: utf8(input)) }
        do {
            _ = try FormFields(urlEncoded: utf8(input))
        } catch {
            #expect(error.status == 413)
            #expect(error.message.contains("1000"))
        }
        let all = try FormFields(urlEncoded: utf8(input), limits: FormLimits(maxFields: 10_000))
        #expect(all.count == 10_000)
        #expect(all["f9999"] == "9999")
        // Empty sequences are not fields: they do not count.
        let sparse = String(repeating: "&", count: 50_000) + "a=1"
        #expect(try pairs(sparse, limits: FormLimits(maxFields: 1)) == [["a", "1"]])
    }

    @Test func hugeFieldStopsAtTheByteLimit() throws {
        let huge = utf8("big=") + [UInt8](repeating: UInt8(ascii: "x"), count: 2 * 1024 * 1024)
        #expect(throws: FormError.bodyTooLarge) { try FormFields(urlEncoded: huge) }
        let fields = try FormFields(urlEncoded: huge, limits: FormLimits(maxBytes: 4 * 1024 * 1024))
        #expect(fields["big"]?.utf8.count == 2 * 1024 * 1024)
    }

    @Test func serializerRoundTrips() throws {
        let fields: FormFields = [("a b", "c&d=e"), ("€", "+%~*"), ("", ""), ("x", "\u{0}\n")]
        #expect(fields.urlEncoded == "a+b=c%26d%3De&%E2%82%AC=%2B%25%7E*&=&x=%00%0A")
        #expect(try FormFields(urlEncoded: utf8(fields.urlEncoded)) == fields)
    }

    @Test func queryFromEnvironAndScope() throws {
        // The environ carries the query's bytes as latin-1 text (PEP 3333).
        let environ = Environ(variables: ["QUERY_STRING": String(latin1: utf8("q=caf\u{E9}&q=%C3%A9&x"))])
        #expect(try FormFields(query: environ).map { [$0.name, $0.value] } == [["q", "café"], ["q", "é"], ["x", ""]])
        let scope = HTTPScope(method: "GET", path: "/", queryString: utf8("a=1&a=2"))
        #expect(try FormFields(query: scope).values(for: "a") == ["1", "2"])
    }

    // MARK: Bodies read from the request

    @Test func formBodyIsReadUpToContentLength() throws {
        let environ = postEnviron(body: utf8("a=1&b=2"), contentType: "application/x-www-form-urlencoded")
        #expect(try FormFields(form: environ).map { [$0.name, $0.value] } == [["a", "1"], ["b", "2"]])
        // A client that declares fewer bytes than it sends: only the declared bytes are read.
        let short = postEnviron(body: utf8("a=1&b=2"), contentType: "application/x-www-form-urlencoded", contentLength: 3)
        #expect(try FormFields(form: short).map { [$0.name, $0.value] } == [["a", "1"]])
        // No Content-Length (a chunked body): read to the end.
        let chunked = postEnviron(body: utf8("a=1&b=2"), contentType: "application/x-www-form-urlencoded", contentLength: nil)
        #expect(try FormFields(form: chunked).count == 2)
    }

    @Test func lyingContentLengthIsATruncatedBody() throws {
        let environ = postEnviron(body: utf8("a=1"), contentType: "application/x-www-form-urlencoded", contentLength: 100)
        #expect(throws: FormError.truncatedBody) { try FormFields(form: environ) }
    }

    @Test func slowBodyArrivingByteByByteParses() throws {
        let body = utf8("name=J%C3%BCrgen+M&tag=a&tag=b")
        let environ = postEnviron(body: body, contentType: "application/x-www-form-urlencoded; charset=UTF-8", pieceSize: 1)
        let fields = try FormFields(form: environ)
        #expect(fields["name"] == "Jürgen M")
        #expect(fields.values(for: "tag") == ["a", "b"])
    }

    @Test func vanishingClientErrorReachesTheHandler() throws {
        let environ = postEnviron(
            body: utf8("a=1&b="),
            contentType: "application/x-www-form-urlencoded",
            contentLength: 1000,
            pieceSize: 2,
            then: ClientDisconnectedError.connectionClosed
        )
        #expect(throws: ClientDisconnectedError.connectionClosed) { try FormFields(form: environ) }
    }

    @Test func oversizedBodyIsRefusedBeforeItIsRead() throws {
        let declared = postEnviron(body: utf8("a=1"), contentType: "application/x-www-form-urlencoded", contentLength: 2_000_000)
        #expect(throws: FormError.bodyTooLarge) { try FormFields(form: declared) }
        let undeclared = postEnviron(body: [UInt8](repeating: 0x61, count: 20), contentType: "application/x-www-form-urlencoded", contentLength: nil)
        #expect(throws: FormError.bodyTooLarge) { try FormFields(form: undeclared, limits: FormLimits(maxBytes: 10)) }
    }

    @Test func otherMediaTypesAndBadLengthsAreClearErrors() throws {
        let json = postEnviron(body: utf8("{}"), contentType: "application/json")
        #expect(throws: FormError.unsupportedMediaType) { try FormFields(form: json) }
        var bad = postEnviron(body: utf8("a=1"), contentType: "application/x-www-form-urlencoded")
        bad["CONTENT_LENGTH"] = "3 "
        #expect(throws: FormError.invalidContentLength) { try FormFields(form: bad) }
        bad["CONTENT_LENGTH"] = "99999999999999999999999"
        #expect(throws: FormError.bodyTooLarge) { try FormFields(form: bad) }
    }
}
