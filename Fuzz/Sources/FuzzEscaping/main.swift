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
    fuzzCheck(
        !escaped.utf8.contains { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") },
        "unescaped character in \(escaped.debugDescription)"
    )
    // Undone on bytes: as Characters, "&" after a prepended mark such as U+06DD is part of one
    // grapheme cluster and a Character search would not find it.
    let references: [([UInt8], UInt8)] = [("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'")]
        .map { (Array($0.0.utf8), $0.1.utf8.first!) }
    let output = Array(escaped.utf8)
    var unescapedBytes: [UInt8] = []
    var index = 0
    while index < output.count {
        guard output[index] == UInt8(ascii: "&") else {
            unescapedBytes.append(output[index])
            index += 1
            continue
        }
        guard let match = references.first(where: { output[index...].starts(with: $0.0) }) else {
            fuzzCheck(false, "bare & in \(escaped.debugDescription)")
            return 0
        }
        unescapedBytes.append(match.1)
        index += match.0.count
    }
    let unescaped = String(decoding: unescapedBytes, as: UTF8.self)
    fuzzCheck(unescapedBytes == Array(text.utf8), "unescaping does not give the text back: \(unescaped.debugDescription)")

    for (set, allowed) in [(PercentEncoding.Set.component, "-._~"), (.path, "-._~/"), (.form, "-._*+")] {
        let encoded = PercentEncoding.encode(bytes, set)
        fuzzCheck(
            encoded.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x25
                    || allowed.utf8.contains(byte)
            },
            "unexpected byte in \(encoded)"
        )
        let decoded = PercentEncoding.decodeBytes(Array(encoded.utf8), plusAsSpace: set == .form)
        fuzzCheck(decoded == bytes, "percent round trip failed for \(set)")
    }
    _ = PercentEncoding.decode(text)
    _ = PercentEncoding.decode(text, plusAsSpace: true)
    return 0
}
