// The Set-Cookie response header of RFC 6265 §4.1, with the SameSite attribute and the cookie
// name prefixes of RFC 6265bis (draft-ietf-httpbis-rfc6265bis §4.1.2.7, §4.1.3).

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
import Foundation
#endif

/// A cookie to set: the value of one `Set-Cookie` header, checked before it is sent.
///
/// ```swift
/// var response = WSGIResponse.redirect(to: "/")
/// try response.setCookie(SetCookie(name: "session", value: token, maxAge: 3600, secure: true))
/// // Set-Cookie: session=…; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax
/// ```
///
/// The defaults are the safe ones: `Path=/`, `HttpOnly` (scripts cannot read it) and
/// `SameSite=Lax` (not sent on cross-site subrequests or POSTs). ``headerValue()`` refuses what
/// would break the header or what browsers drop: a value outside RFC 6265's `cookie-octet`
/// (percent-encode it first with `PercentEncoding.encode(value, .component)`), a name that is
/// not a token, `;` or a control character in `Path`/`Domain`, more than 4,096 bytes, and
/// `SameSite=None` or a `__Secure-`/`__Host-` name without `Secure`.
public struct SetCookie: Sendable, Hashable {
    /// The `SameSite` attribute's value.
    public struct SameSite: Sendable, Hashable, CustomStringConvertible {
        fileprivate let name: String

        /// Sent only with requests from the site itself.
        public static let strict = SameSite(name: "Strict")
        /// Also sent on top-level navigations from other sites (links), not on their subrequests or POSTs.
        public static let lax = SameSite(name: "Lax")
        /// Sent with every request; needs ``SetCookie/secure``.
        public static let none = SameSite(name: "None")

        public var description: String { name }
    }

    /// The cookie's name: an RFC 9110 token.
    public var name: String
    /// The cookie's value: RFC 6265 `cookie-octet`s, optionally in double quotes.
    public var value: String
    /// `Max-Age`: seconds until it expires; 0 or less deletes it at once.
    public var maxAge: Int?
    /// `Expires`: when it expires (for clients that ignore `Max-Age`).
    public var expires: Date?
    /// `Path`: the path prefix it is sent for.
    public var path: String?
    /// `Domain`: the domain it is sent to (with its subdomains); `nil` for this host only.
    public var domain: String?
    /// `Secure`: sent over HTTPS only.
    public var secure: Bool
    /// `HttpOnly`: hidden from scripts.
    public var httpOnly: Bool
    /// `SameSite`: whether other sites' requests carry it.
    public var sameSite: SameSite?

    /// Creates a cookie to set.
    public init(
        name: String,
        value: String,
        maxAge: Int? = nil,
        expires: Date? = nil,
        path: String? = "/",
        domain: String? = nil,
        secure: Bool = false,
        httpOnly: Bool = true,
        sameSite: SameSite? = .lax
    ) {
        self.name = name
        self.value = value
        self.maxAge = maxAge
        self.expires = expires
        self.path = path
        self.domain = domain
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
    }

    /// A cookie that deletes `name`: an empty value that expired in 1970 (`Max-Age=0`). `path` and
    /// `domain` must be the ones the cookie was set with.
    public static func deletion(name: String, path: String? = "/", domain: String? = nil) -> SetCookie {
        SetCookie(name: name, value: "", maxAge: 0, expires: Date(timeIntervalSince1970: 0), path: path, domain: domain)
    }

    /// The `Set-Cookie` header value: `name=value` then the attributes.
    /// - Throws: ``CookieError`` when a field would break the header or the cookie would be dropped.
    public func headerValue() throws(CookieError) -> String {
        try validate()
        var header = name + "=" + value
        if let maxAge { header += "; Max-Age=\(maxAge)" }
        if let expires {
            // Years 1 to 9999 (a date outside them, or not a number, is clamped into them).
            let seconds = expires.timeIntervalSince1970
            let clamped = seconds.isNaN ? 0 : min(max(seconds.rounded(.down), -62_135_596_800), 253_402_300_799)
            header += "; Expires=" + imfFixdate(secondsSince1970: Int64(clamped))
        }
        if let domain { header += "; Domain=" + domain }
        if let path { header += "; Path=" + path }
        if secure { header += "; Secure" }
        if httpOnly { header += "; HttpOnly" }
        if let sameSite { header += "; SameSite=" + sameSite.name }
        return header
    }

    private func validate() throws(CookieError) {
        guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
            throw CookieError(
                .invalidName,
                "The cookie name \(String(reflecting: name)) is not a token: use letters, digits and !#$%&'*+-.^_`|~ only."
            )
        }
        var valueBytes = Substring(value).utf8
        if valueBytes.count >= 2, valueBytes.first == UInt8(ascii: "\""), valueBytes.last == UInt8(ascii: "\"") {
            valueBytes = valueBytes.dropFirst().dropLast()
        }
        guard valueBytes.allSatisfy(Self.isCookieOctet) else {
            throw CookieError(
                .invalidValue,
                "The value of cookie \(name) has a space, quote, comma, semicolon, backslash, control or non-ASCII character: "
                    + "percent-encode it first (PercentEncoding.encode(value, .component)) and decode it when you read it."
            )
        }
        guard name.utf8.count + value.utf8.count <= 4096 else {
            throw CookieError(
                .tooLarge,
                "Cookie \(name) has \(name.utf8.count + value.utf8.count) bytes of name and value; browsers drop cookies over 4,096. Store less in it."
            )
        }
        if let path, !path.utf8.allSatisfy(Self.isAttributeByte) {
            throw CookieError(
                .invalidAttribute,
                "The Path of cookie \(name) has a control character, ';' or a non-ASCII byte: percent-encode it (PercentEncoding.encode(path, .path))."
            )
        }
        if let domain, domain.isEmpty || !domain.utf8.allSatisfy(Self.isDomainByte) {
            throw CookieError(
                .invalidAttribute,
                "The Domain of cookie \(name) is not a host name: use letters, digits, '-' and '.' only (IDNA-encode international names)."
            )
        }
        if sameSite == .some(.none), !secure {
            throw CookieError(
                .insecure,
                "Cookie \(name) has SameSite=None without Secure; browsers reject it. Set secure: true (and serve over HTTPS)."
            )
        }
        if name.hasPrefix("__Secure-"), !secure {
            throw CookieError(.insecure, "Cookie \(name) has the __Secure- prefix, which requires Secure; set secure: true.")
        }
        if name.hasPrefix("__Host-"), !secure || path != "/" || domain != nil {
            throw CookieError(.insecure, "Cookie \(name) has the __Host- prefix, which requires Secure, Path=/ and no Domain.")
        }
    }

    /// RFC 9110 §5.6.2 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// RFC 6265 §4.1.1 `cookie-octet`: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
    private static func isCookieOctet(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21, 0x23...0x2B, 0x2D...0x3A, 0x3C...0x5B, 0x5D...0x7E: return true
        default: return false
        }
    }

    /// RFC 6265 §4.1.1 `av-octet` of `path-value`: a CHAR other than a control or `;`.
    private static func isAttributeByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: ";")
    }

    /// A host name's byte (RFC 1034 letters, digits, hyphens, dots).
    private static func isDomainByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }
}
