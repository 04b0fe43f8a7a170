// Header values with parameters, `type; name=value; name="quoted"`: the syntax of RFC 9110 §5.6.6
// (Content-Type) and RFC 6266 §4.1 (Content-Disposition), with RFC 8187 extended values
// (`filename*=UTF-8''%E2%82%AC.txt`).

/// A header value split into its leading value and its parameters.
///
/// Read leniently, as werkzeug's `parse_options_header` reads them: parameter names are compared
/// without regard to ASCII case; white space around `;` and `=` is skipped; a quoted value loses
/// its quotes and the escapes `\"` and `\\` (other backslashes stay, as old browsers sent Windows
/// paths unescaped); a parameter without `=` is ignored; an unterminated quote runs to the end. An
/// extended parameter (`name*`, RFC 8187) in UTF-8 or ISO-8859-1 is decoded and wins over the
/// plain one of the same name. Text is read as UTF-8, ill-formed sequences as U+FFFD.
struct HeaderParameters: Sendable {
    /// The value before the first `;`, trimmed.
    var value: String
    /// The parameters in order, names lower-cased, extended ones decoded and renamed (`filename*`
    /// becomes `filename`).
    var parameters: [(name: String, value: String)]

    init(_ header: some Collection<UInt8>) {
        let bytes = Array(header)
        var index = 0
        while index < bytes.count, bytes[index] != UInt8(ascii: ";") { index += 1 }
        value = String(decoding: Self.trimmed(bytes[0..<index]), as: UTF8.self)
        var plain: [(name: String, value: String)] = []
        var extended: [(name: String, value: String)] = []
        while index < bytes.count {
            index += 1  // past `;`
            let nameStart = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "="), bytes[index] != UInt8(ascii: ";") { index += 1 }
            let name = String(decoding: Self.trimmed(bytes[nameStart..<index]), as: UTF8.self).lowercased()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { continue }
            index += 1
            while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
            var raw: [UInt8] = []
            if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count,
                        bytes[index + 1] == UInt8(ascii: "\"") || bytes[index + 1] == UInt8(ascii: "\\")
                    {
                        index += 1
                    }
                    raw.append(bytes[index])
                    index += 1
                }
                // Past the closing quote, and whatever stands between it and the next `;`.
                while index < bytes.count, bytes[index] != UInt8(ascii: ";") { index += 1 }
            } else {
                let valueStart = index
                while index < bytes.count, bytes[index] != UInt8(ascii: ";") { index += 1 }
                raw = Array(Self.trimmed(bytes[valueStart..<index]))
            }
            guard !name.isEmpty else { continue }
            if name.hasSuffix("*") {
                if let decoded = Self.decodeExtendedValue(raw) { extended.append((String(name.dropLast()), decoded)) }
            } else {
                plain.append((name, String(decoding: raw, as: UTF8.self)))
            }
        }
        parameters = plain.filter { parameter in !extended.contains { $0.name == parameter.name } } + extended
    }

    /// The parameter `name` (lower case), or `nil`.
    subscript(name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }

    /// RFC 8187 §3.2 `ext-value`: `charset'language'percent-encoded`; UTF-8 and ISO-8859-1 only.
    private static func decodeExtendedValue(_ raw: [UInt8]) -> String? {
        let parts = raw.split(separator: UInt8(ascii: "'"), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        let charset = String(decoding: parts[0], as: UTF8.self).lowercased()
        let bytes = PercentEncoding.decodeBytes(parts[2])
        switch charset {
        case "utf-8": return String(decoding: bytes, as: UTF8.self)
        case "iso-8859-1": return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        default: return nil
        }
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isSpace(first) { slice.removeFirst() }
        while let last = slice.last, isSpace(last) { slice.removeLast() }
        return slice
    }
}
