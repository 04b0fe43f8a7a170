// The Cookie request header: its syntax is RFC 6265 §4.2.1 (`name=value; name=value`), and a
// server reads it as leniently as browsers write it (RFC 6265 §5.4) and as Python's werkzeug
// (`werkzeug.http.parse_cookie`) reads it.

/// One cookie the client sent.
public struct Cookie: Sendable, Hashable {
    /// The cookie's name (never empty).
    public var name: String
    /// The cookie's value (quotes and backslash escapes removed).
    public var value: String

    /// Creates a cookie.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The cookies of a request, in the order of the `Cookie` header, repeated names kept.
///
/// A browser sends the cookie with the longest matching path first (RFC 6265 §5.4), so the
/// subscript, which gives the first value, gives the most specific one. Names are matched code
/// point by code point, not by Swift's canonical equivalence.
///
/// ```swift
/// let cookies = Cookies(header: "session=abc; theme=\"dark\"; session=old")
/// cookies["session"]               // "abc"
/// cookies.values(for: "session")   // ["abc", "old"]
/// ```
///
/// The rule, the same as werkzeug's `parse_cookie`:
/// 1. The header is split into pairs at `;`. A value in double quotes may contain `;`
///    (`a="x;y"`) when its closing quote is followed by `;` or the end.
/// 2. Each pair is split at its first `=`; name and value are trimmed of ASCII white space. A pair
///    without `=` is a name with an empty value; a pair with an empty name (`=x`, `;;`) is skipped.
/// 3. A value in double quotes loses them, and its backslash escapes are undone: `\ooo` (three
///    octal digits, the first 0–3) is that byte, `\c` is `c` (Python's `http.cookies` quoting).
/// 4. Names and values are read as UTF-8, each ill-formed sequence replaced by U+FFFD.
///
/// It never fails: any bytes give some list of cookies. Where werkzeug differs: it also trims
/// non-ASCII white space (Python's `str.strip`), and a line feed inside a pair resynchronises its
/// regular expression in ways no browser produces; here a line feed is an ordinary byte.
public struct Cookies: Sendable, Hashable, RandomAccessCollection {
    /// The cookies in order.
    public var elements: [Cookie]

    /// Creates a list of cookies.
    public init(_ elements: [Cookie] = []) {
        self.elements = elements
    }

    /// Parses a `Cookie` header's bytes.
    public init(header: some Collection<UInt8>) {
        self.init(Self.parse(Array(header)))
    }

    /// Parses a `Cookie` header given as a string (its UTF-8 bytes).
    public init(header: String) {
        self.init(header: Array(header.utf8))
    }

    public var startIndex: Int { elements.startIndex }
    public var endIndex: Int { elements.endIndex }
    public subscript(position: Int) -> Cookie { elements[position] }

    /// The first value of the cookie `name`, or `nil`.
    public subscript(name: String) -> String? {
        elements.first { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }

    /// Every value of the cookie `name`, in order.
    public func values(for name: String) -> [String] {
        elements.compactMap { $0.name.utf8.elementsEqual(name.utf8) ? $0.value : nil }
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        // Python's `\s` under re.ASCII: space, \t, \n, \v, \f, \r.
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isSpace(first) { slice.removeFirst() }
        while let last = slice.last, isSpace(last) { slice.removeLast() }
        return slice
    }

    private static func parse(_ header: [UInt8]) -> [Cookie] {
        var cookies: [Cookie] = []
        var index = 0
        let count = header.count
        while index < count {
            // The name: up to `=` or `;`.
            let nameStart = index
            while index < count, header[index] != UInt8(ascii: "="), header[index] != UInt8(ascii: ";") { index += 1 }
            let name = trimmed(header[nameStart..<index])
            var value: ArraySlice<UInt8> = []
            if index < count, header[index] == UInt8(ascii: "=") {
                index += 1
                while index < count, isSpace(header[index]) { index += 1 }
                if let end = quotedValueEnd(header, from: index) {
                    value = header[index..<end]
                    index = end
                    while index < count, header[index] != UInt8(ascii: ";") { index += 1 }
                } else {
                    let valueStart = index
                    while index < count, header[index] != UInt8(ascii: ";") { index += 1 }
                    value = trimmed(header[valueStart..<index])
                }
            }
            index += 1  // past `;`
            guard !name.isEmpty else { continue }
            cookies.append(Cookie(name: String(decoding: name, as: UTF8.self), value: decodeValue(value)))
        }
        return cookies
    }

    /// The end of a double-quoted value starting at `start` (just past its closing quote) when
    /// only white space follows it up to `;` or the end of the header; otherwise `nil`.
    private static func quotedValueEnd(_ header: [UInt8], from start: Int) -> Int? {
        guard start < header.count, header[start] == UInt8(ascii: "\"") else { return nil }
        var index = start + 1
        while index < header.count {
            switch header[index] {
            case UInt8(ascii: "\\"):
                // `\` escapes any byte but a line feed (Python's `.`).
                guard index + 1 < header.count, header[index + 1] != 0x0A else { return nil }
                index += 2
            case UInt8(ascii: "\""):
                let end = index + 1
                var after = end
                while after < header.count, isSpace(header[after]) { after += 1 }
                return after == header.count || header[after] == UInt8(ascii: ";") ? end : nil
            default:
                index += 1
            }
        }
        return nil
    }

    /// A value as UTF-8 text; a quoted one unquoted and unescaped.
    private static func decodeValue(_ value: ArraySlice<UInt8>) -> String {
        guard value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") else {
            return String(decoding: value, as: UTF8.self)
        }
        let inner = value.dropFirst().dropLast()
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        // As werkzeug: the text (ill-formed UTF-8 already replaced) is unescaped, then read again.
        let text = Array(String(decoding: inner, as: UTF8.self).utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var index = 0
        while index < text.count {
            let byte = text[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < text.count, text[index + 1] != 0x0A else {
                bytes.append(byte)
                index += 1
                continue
            }
            if index + 3 < text.count,
                (UInt8(ascii: "0")...UInt8(ascii: "3")).contains(text[index + 1]),
                (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(text[index + 2]),
                (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(text[index + 3])
            {
                bytes.append((text[index + 1] - 48) << 6 | (text[index + 2] - 48) << 3 | (text[index + 3] - 48))
                index += 4
            } else {
                bytes.append(text[index + 1])
                index += 2
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
