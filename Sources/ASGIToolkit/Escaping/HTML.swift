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
/// The text's UTF-8 bytes are read eight at a time: once to size the result, once to write it,
/// words with nothing to escape copied whole, the others through a table without branches. Text with nothing to escape is returned as it is,
/// without a copy. Every other byte, including non-ASCII
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
            // `write` stores whole words: 8 bytes of room past the end.
            return String(unsafeUninitializedCapacity: input.count + extra + 8) { output in
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
        let start = output.count
        output.append(contentsOf: bytes)
        guard extra > 0 else { return }
        // Room for what the references add and the 8 bytes `write` may store past its end, then
        // the escaped form written over the copy, in place: no temporary buffer.
        var room = extra + 8
        zeros.withUnsafeBufferPointer { zeros in
            while room > 0 {
                let part = min(room, zeros.count)
                output.append(contentsOf: UnsafeBufferPointer(rebasing: zeros[..<part]))
                room -= part
            }
        }
        output.withUnsafeMutableBufferPointer { buffer in
            _ = write(bytes, to: buffer.baseAddress! + start)
        }
        output.removeLast(8)
    }

    private static let zeros = [UInt8](repeating: 0, count: 512)

    /// For each byte, what it becomes: up to 6 bytes of text (little-endian) and, in the top byte,
    /// their number. A byte that is not escaped is itself, length 1.
    private static let replacements: [UInt64] = (0..<256).map { byte -> UInt64 in
        let text: [UInt8]
        switch UInt8(byte) {
        case UInt8(ascii: "&"): text = Array("&amp;".utf8)
        case UInt8(ascii: "<"): text = Array("&lt;".utf8)
        case UInt8(ascii: ">"): text = Array("&gt;".utf8)
        case UInt8(ascii: "\""): text = Array("&quot;".utf8)
        case UInt8(ascii: "'"): text = Array("&#39;".utf8)
        default: text = [UInt8(byte)]
        }
        var entry = UInt64(text.count) << 56
        for (index, character) in text.enumerated() { entry |= UInt64(character) << (8 * UInt64(index)) }
        return entry
    }

    /// How many bytes the escaped form of `input` adds.
    @inline(__always)
    private static func extraBytes(_ input: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = input.baseAddress else { return 0 }
        let count = input.count
        return replacements.withUnsafeBufferPointer { table in
            var extra = 0
            var index = 0
            while index < count {
                if index &+ 8 <= count, !hasSpecial(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) {
                    index &+= 8
                    continue
                }
                extra &+= Int(truncatingIfNeeded: table[Int(base[index])] >> 56) &- 1
                index &+= 1
            }
            return extra
        }
    }

    /// Writes the escaped form of `input` at `output`, which has room for it and 8 bytes more;
    /// returns its length.
    ///
    /// Eight bytes at a time: a word with none of the five bytes is copied whole, so plain text
    /// costs well under a cycle per byte; in a word with one, each byte is replaced through the
    /// table by one 8-byte store, without a branch per byte.
    @inline(__always)
    private static func write(_ input: UnsafeBufferPointer<UInt8>, to output: UnsafeMutablePointer<UInt8>) -> Int {
        guard let base = input.baseAddress else { return 0 }
        let count = input.count
        return replacements.withUnsafeBufferPointer { table in
            var read = 0
            var written = 0
            while read < count {
                if read &+ 8 <= count {
                    let word = UnsafeRawPointer(base + read).loadUnaligned(as: UInt64.self)
                    if !hasSpecial(word) {
                        UnsafeMutableRawPointer(output + written).storeBytes(of: word, as: UInt64.self)
                        read &+= 8
                        written &+= 8
                        continue
                    }
                }
                let entry = table[Int(base[read])]
                UnsafeMutableRawPointer(output + written).storeBytes(of: entry & 0x00FF_FFFF_FFFF_FFFF, as: UInt64.self)
                written &+= Int(truncatingIfNeeded: entry >> 56)
                read &+= 1
            }
            return written
        }
    }

    /// Whether some byte of `word` is `"`, `&`, `'`, `<` or `>`: the exact "has a zero byte" test
    /// on the word xor each of them.
    @inline(__always)
    private static func hasSpecial(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func zeroByte(_ value: UInt64) -> UInt64 { (value &- ones) & ~value & highs }
        return
            (zeroByte(word ^ (ones &* 0x22)) | zeroByte(word ^ (ones &* 0x26)) | zeroByte(word ^ (ones &* 0x27))
            | zeroByte(word ^ (ones &* 0x3C)) | zeroByte(word ^ (ones &* 0x3E))) != 0
    }
}
