// HTML escaping for text placed in element content and in quoted attribute values, as the HTML
// standard's serialization algorithm escapes (§13.3 "Serializing HTML fragments": `&`, `<`, `>`,
// and `"` in attributes), plus `'` so single-quoted attributes are safe too (OWASP rule #1).

/// HTML escaping on bytes: `&` `<` `>` `"` `'` become `&amp;` `&lt;` `&gt;` `&quot;` `&#39;`.
///
/// ```swift
/// let item = "<li>\(HTML.escape(note.text))</li>"
/// var page: [UInt8] = []
/// HTML.escape(note.text, into: &page)             // appends, no intermediate string
/// ```
///
/// The text's UTF-8 bytes are scanned once to size the result and once to write it; text with
/// nothing to escape is returned as it is, without a copy. Every other byte, including non-ASCII
/// text, passes through unchanged. The output matches Python's `markupsafe.escape` except for `"`
/// (`&quot;` here, `&#34;` there), and PHP's `htmlspecialchars($s, ENT_QUOTES)` except for `'`
/// (`&#39;` here, `&#039;` there).
public enum HTML {
    /// `text` with `&`, `<`, `>`, `"` and `'` replaced by their character references.
    public static func escape(_ text: String) -> String {
        var text = text
        let escaped: String? = text.withUTF8 { input in
            let extra = extraBytes(input)
            guard extra > 0 else { return nil }
            return String(unsafeUninitializedCapacity: input.count + extra) { output in
                write(input, to: output.baseAddress!)
            }
        }
        return escaped ?? text
    }

    /// Appends `text`, escaped, to `output`.
    public static func escape(_ text: String, into output: inout [UInt8]) {
        var text = text
        text.withUTF8 { escape($0, into: &output) }
    }

    /// Appends `bytes`, escaped, to `output`.
    public static func escape(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        let extra = extraBytes(bytes)
        guard extra > 0 else {
            output.append(contentsOf: bytes)
            return
        }
        let start = output.count
        let added = bytes.count + extra
        output.append(contentsOf: repeatElement(0, count: added))
        output.withUnsafeMutableBufferPointer { buffer in
            _ = write(bytes, to: buffer.baseAddress! + start)
        }
    }

    /// Bits 0x22 `"`, 0x26 `&`, 0x27 `'`, 0x3C `<`, 0x3E `>`: the bytes that are replaced.
    private static let specialMask: UInt64 = 1 << 0x22 | 1 << 0x26 | 1 << 0x27 | 1 << 0x3C | 1 << 0x3E

    @inline(__always)
    private static func isSpecial(_ byte: UInt8) -> Bool {
        byte < 64 && (specialMask >> UInt64(byte)) & 1 != 0
    }

    /// How many bytes the escaped form of `input` adds.
    @inline(__always)
    private static func extraBytes(_ input: UnsafeBufferPointer<UInt8>) -> Int {
        var extra = 0
        for byte in input where isSpecial(byte) {
            switch byte {
            case UInt8(ascii: "&"), UInt8(ascii: "'"): extra &+= 4   // &amp; &#39;
            case UInt8(ascii: "\""): extra &+= 5                     // &quot;
            default: extra &+= 3                                     // &lt; &gt;
            }
        }
        return extra
    }

    /// Writes the escaped form of `input` at `output` (which has room for it); returns its length.
    @inline(__always)
    private static func write(_ input: UnsafeBufferPointer<UInt8>, to output: UnsafeMutablePointer<UInt8>) -> Int {
        var written = 0
        for byte in input {
            guard isSpecial(byte) else {
                output[written] = byte
                written &+= 1
                continue
            }
            let reference: StaticString
            switch byte {
            case UInt8(ascii: "&"): reference = "&amp;"
            case UInt8(ascii: "<"): reference = "&lt;"
            case UInt8(ascii: ">"): reference = "&gt;"
            case UInt8(ascii: "\""): reference = "&quot;"
            default: reference = "&#39;"
            }
            (output + written).update(from: reference.utf8Start, count: reference.utf8CodeUnitCount)
            written &+= reference.utf8CodeUnitCount
        }
        return written
    }
}
