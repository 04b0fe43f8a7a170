/// The one reading of a `Content-Length` value (RFC 9110 §8.6: `1*DIGIT`), for request heads,
/// FastCGI's `CONTENT_LENGTH` and the headers applications send.
///
/// Spaces and tabs around the digits are the field's own white space and are skipped; anything
/// else (a sign, a second number, a unit, a comma list) makes the value malformed. A value past
/// `Int.max` is reported apart, so a frontend can answer 413 rather than 400.
@_spi(ASGIFrontend) public enum ContentLength {
    /// What a value says.
    public enum Parsed: Hashable, Sendable {
        /// A length in bytes.
        case length(Int)
        /// Not a decimal number.
        case malformed
        /// Decimal digits, but more than `Int.max`.
        case tooLarge
    }

    /// Parses `value`.
    ///
    /// ```swift
    /// ContentLength.parse(Array(" 42 ".utf8))   // .length(42)
    /// ContentLength.parse(Array("+5".utf8))     // .malformed
    /// ```
    public static func parse(_ value: some Collection<UInt8>) -> Parsed {
        var length = 0
        var digits = 0
        var trailingSpace = false
        var overflow = false
        for byte in value {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if digits > 0 { trailingSpace = true }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard !trailingSpace else { return .malformed }
                digits += 1
                guard !overflow else { continue }
                let (times, overflowA) = length.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                if overflowA || overflowB { overflow = true } else { length = sum }
            default:
                return .malformed
            }
        }
        guard digits > 0 else { return .malformed }
        return overflow ? .tooLarge : .length(length)
    }

    /// Parses `value` given as text.
    public static func parse(_ value: String) -> Parsed {
        parse(value.utf8)
    }

    /// The length, or `nil` when the value is malformed or too large.
    public static func value(_ value: some Collection<UInt8>) -> Int? {
        if case .length(let length) = parse(value) { return length }
        return nil
    }
}
