// Percent-encoding (RFC 3986 §2.1) with the byte sets of RFC 3986 §2.3 and of the WHATWG URL
// standard's application/x-www-form-urlencoded serializer (§5.2); decoding as the WHATWG URL
// standard's percent-decode (§1.3).

/// Percent-encoding and decoding of URL parts, on bytes.
///
/// ```swift
/// PercentEncoding.encode("a b/c?d", .component)   // "a%20b%2Fc%3Fd"
/// PercentEncoding.encode("a b/c?d", .path)        // "a%20b/c%3Fd"
/// PercentEncoding.encode("a b&c=d", .form)        // "a+b%26c%3Dd"
/// PercentEncoding.decode("caf%C3%A9%2")           // "café%2"
/// ```
///
/// Encoding works on the UTF-8 bytes of the text and writes upper-case hexadecimal digits.
/// Decoding never fails: a `%` not followed by two hexadecimal digits is kept, and bytes that are
/// not UTF-8 become U+FFFD in the `String` forms (``decodeBytes(_:plusAsSpace:)`` gives the bytes).
public enum PercentEncoding {
    /// Which bytes are left as they are; every other byte is written as `%XX`.
    public struct Set: Sendable, Hashable {
        fileprivate enum Backing: Hashable, Sendable {
            case component, path, form
        }

        fileprivate let backing: Backing

        /// RFC 3986's unreserved characters only (`A–Z a–z 0–9 - . _ ~`): safe anywhere in a URL,
        /// in a cookie value and in a header. Python's `urllib.parse.quote(s, safe="")`.
        public static let component = Set(backing: .component)
        /// The unreserved characters and `/`: a path whose segments are kept apart. Python's
        /// `urllib.parse.quote(s)`.
        public static let path = Set(backing: .path)
        /// The WHATWG application/x-www-form-urlencoded set: `A–Z a–z 0–9 * - . _` kept, a space
        /// written as `+`. What browsers send for a form.
        public static let form = Set(backing: .form)

        /// Whether `byte` is written as it is (a space in ``form`` becomes `+` instead).
        @inline(__always)
        fileprivate func keeps(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
                return true
            case UInt8(ascii: "~"):
                return backing != .form
            case UInt8(ascii: "/"):
                return backing == .path
            case UInt8(ascii: "*"):
                return backing == .form
            default:
                return false
            }
        }
    }

    /// `text`'s UTF-8 bytes percent-encoded with `set`.
    public static func encode(_ text: String, _ set: Set) -> String {
        encode(text.utf8, set)
    }

    /// `bytes` percent-encoded with `set`.
    public static func encode(_ bytes: some Sequence<UInt8>, _ set: Set) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.underestimatedCount)
        append(bytes, set, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends `bytes` percent-encoded with `set` to `output`.
    public static func append(_ bytes: some Sequence<UInt8>, _ set: Set, to output: inout [UInt8]) {
        for byte in bytes {
            if set.keeps(byte) {
                output.append(byte)
            } else if byte == UInt8(ascii: " "), set.backing == .form {
                output.append(UInt8(ascii: "+"))
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            }
        }
    }

    /// `%XX` escapes in `text` decoded, the bytes read as UTF-8 (U+FFFD for ill-formed
    /// sequences); `+` becomes a space first when `plusAsSpace` (form fields).
    public static func decode(_ text: String, plusAsSpace: Bool = false) -> String {
        var text = text
        return text.withUTF8 { percentDecodedString($0, plusAsSpace: plusAsSpace) }
    }

    /// `%XX` escapes in `bytes` decoded; a `%` without two hexadecimal digits after it is kept.
    public static func decodeBytes(_ bytes: some Collection<UInt8>, plusAsSpace: Bool = false) -> [UInt8] {
        let input = Array(bytes)
        return input.withUnsafeBufferPointer { buffer in
            [UInt8](unsafeUninitializedCapacity: buffer.count) { output, count in
                count = percentDecode(buffer, plusAsSpace: plusAsSpace, into: output)
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
}
