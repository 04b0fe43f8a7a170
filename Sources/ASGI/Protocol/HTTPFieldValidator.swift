/// The one rule for the header fields a frontend sends (RFC 9110, as SwiftNIO's
/// `HTTPHeaderValidator` applies it): a name is one or more token characters; a value holds no
/// control character but horizontal tab. CR, LF and NUL would let an application split the
/// message it is part of; the other controls are as unsafe to any parser downstream.
///
/// Every frontend checks response headers and trailers with it, and `startResponse` checks what
/// a WSGI-style application passes.
@_spi(ASGIFrontend) public enum HTTPFieldValidator {
    /// Whether `name` is an HTTP token (`1*tchar`).
    public static func isValidName(_ name: some Collection<UInt8>) -> Bool {
        !name.isEmpty && name.allSatisfy(isTokenByte)
    }

    /// Whether `value` holds no control character but horizontal tab.
    public static func isValidValue(_ value: some Collection<UInt8>) -> Bool {
        value.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// What is wrong with `header`, in words, or `nil` when it can be sent.
    public static func problem(with header: ASGIHeader) -> String? {
        if !isValidName(header.name) {
            return "header name \(String(latin1: header.name).debugDescription) is not an HTTP token"
        }
        if !isValidValue(header.value) {
            return "the value of header '\(String(latin1: header.name))' contains a control character (CR, LF and NUL split responses)"
        }
        return nil
    }

    /// Checks every field of an event's headers.
    /// - Throws: ``ASGIProtocolError`` naming the field and the event.
    public static func validate(_ headers: ASGIHeaders, in event: SendEvent) throws {
        for header in headers {
            if let problem = problem(with: header) { throw ASGIProtocolError.unexpected(event, problem) }
        }
    }

    /// RFC 9110 `tchar`.
    @inline(__always)
    public static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
