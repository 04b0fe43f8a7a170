import ASGIToolkit
import Foundation
import Testing

/// Every input the fuzz targets (Fuzz/) found a problem with, replayed here, with what each one
/// showed.
@Suite struct FuzzRegressionTests {
    static let regressions = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Regressions")

    static func input(_ target: String, _ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: regressions.appendingPathComponent(target).appendingPathComponent(name)))
    }

    /// FuzzCookies: U+037E GREEK QUESTION MARK (CD BE) is canonically equivalent to ';' as a Swift
    /// Character. The parser splits on the byte ';' only, so it stays inside the name; lookups
    /// compare code points, so "a;b" with the Greek mark does not find a name with a semicolon.
    @Test func greekQuestionMarkIsNotASemicolon() throws {
        let cookies = Cookies(header: try Self.input("FuzzCookies", "greek-question-mark-in-name"))
        #expect(cookies.count == 1)
        for cookie in cookies {
            #expect(!cookie.name.utf8.contains(UInt8(ascii: ";")))
            #expect(cookies[cookie.name] != nil)
        }
        let greek = Cookies(header: "a\u{37E}b=1; c=2")
        #expect(greek.map(\.name) == ["a\u{37E}b", "c"])
        #expect(greek["a\u{37E}b"] == "1")
        #expect(greek["a;b"] == nil)
        let fields = try FormFields(urlEncoded: Array("e%CC%81=1".utf8))
        #expect(fields["e\u{301}"] == "1")
        #expect(fields["é"] == nil)
    }

    /// FuzzEscaping: U+06DD ARABIC END OF AYAH is a prepended mark, so "\u{6DD}&" is one Character
    /// and a Character search misses the "&". Escaping works on bytes, so the "&" is escaped.
    @Test func ampersandInsideAGraphemeClusterIsEscaped() throws {
        let text = String(decoding: try Self.input("FuzzEscaping", "prepend-mark-before-ampersand"), as: UTF8.self)
        let escaped = HTML.escape(text)
        #expect(Array(escaped.utf8).suffix(7) == Array("\u{6DD}&amp;".utf8))
        #expect(!escaped.utf8.contains(UInt8(ascii: "<")))
        #expect(HTML.escape("\u{6DD}&<") == "\u{6DD}&amp;&lt;")
    }

    /// Every regression input, fed to the parser of its target: none traps.
    @Test func everyRegressionInputParses() throws {
        let targets = (try? FileManager.default.contentsOfDirectory(atPath: Self.regressions.path)) ?? []
        #expect(!targets.isEmpty)
        for target in targets {
            for name in try FileManager.default.contentsOfDirectory(atPath: Self.regressions.appendingPathComponent(target).path) {
                let bytes = try Self.input(target, name)
                switch target {
                case "FuzzCookies": _ = Cookies(header: bytes)
                case "FuzzURLEncodedForm": _ = try? FormFields(urlEncoded: bytes.dropFirst())
                case "FuzzEscaping": _ = HTML.escape(String(decoding: bytes, as: UTF8.self))
                default: break
                }
            }
        }
    }
}
