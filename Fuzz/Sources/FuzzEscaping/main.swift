// FuzzEscaping: HTML.escape and PercentEncoding on any text.
//
// Invariants: it never traps; escaped HTML has none of < > " ' and every & starts one of the five
// references, and undoing them gives the text back; both HTML.escape forms agree; percent-encoding
// then decoding gives the bytes back for every set, and encoded text has only the set's bytes and
// %XX escapes.
import ASGIToolkit
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEscaping(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let bytes = input.rest()
    let text = String(decoding: bytes, as: UTF8.self)

    let escaped = HTML.escape(text)
    var buffer: [UInt8] = [0x2A]
    HTML.escape(text, into: &buffer)
    fuzzCheck(Array(buffer.dropFirst()) == Array(escaped.utf8), "HTML.escape forms disagree")
    fuzzCheck(!escaped.utf8.contains { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") },
              "unescaped character in \(escaped.debugDescription)")
    var unescaped = ""
    var rest = Substring(escaped)
    while let ampersand = rest.firstIndex(of: "&") {
        unescaped += rest[..<ampersand]
        rest = rest[ampersand...]
        let references: [(String, String)] = [("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'")]
        guard let match = references.first(where: { rest.hasPrefix($0.0) }) else {
            fuzzCheck(false, "bare & in \(escaped.debugDescription)")
            return 0
        }
        unescaped += match.1
        rest = rest.dropFirst(match.0.count)
    }
    unescaped += rest
    fuzzCheck(unescaped == text, "unescaping does not give the text back")

    for (set, allowed) in [(PercentEncoding.Set.component, "-._~"), (.path, "-._~/"), (.form, "-._*+")] {
        let encoded = PercentEncoding.encode(bytes, set)
        fuzzCheck(encoded.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x25 || allowed.utf8.contains(byte)
        }, "unexpected byte in \(encoded)")
        let decoded = PercentEncoding.decodeBytes(Array(encoded.utf8), plusAsSpace: set == .form)
        fuzzCheck(decoded == bytes, "percent round trip failed for \(set)")
    }
    _ = PercentEncoding.decode(text)
    _ = PercentEncoding.decode(text, plusAsSpace: true)
    return 0
}
