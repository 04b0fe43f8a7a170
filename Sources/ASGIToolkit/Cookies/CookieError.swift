/// Why a ``SetCookie`` cannot be sent: a field would break the header or be dropped by browsers.
///
/// A cookie is checked before it becomes a header, so a value taken from a request can never add
/// an attribute or a header of its own (`;`, CR, LF), and a cookie a browser would silently ignore
/// fails loudly instead.
public struct CookieError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching in `catch` clauses and tests.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Hashable, Sendable {
            case invalidName
            case invalidValue
            case invalidAttribute
            case tooLarge
            case insecure
        }

        fileprivate let backing: Backing

        /// The name is empty or not an RFC 9110 token (RFC 6265 §4.1.1 `cookie-name`).
        public static let invalidName = Code(backing: .invalidName)
        /// The value has a byte outside RFC 6265 §4.1.1 `cookie-octet` (space, `"`, `,`, `;`, `\`,
        /// controls, non-ASCII).
        public static let invalidValue = Code(backing: .invalidValue)
        /// `Path` or `Domain` has a control character, `;` or non-ASCII byte (`Domain`: anything but
        /// letters, digits, `-` and `.`).
        public static let invalidAttribute = Code(backing: .invalidAttribute)
        /// Name and value together are longer than the 4,096 bytes browsers keep (RFC 6265 §6.1).
        public static let tooLarge = Code(backing: .tooLarge)
        /// `SameSite=None` without `Secure`, or a `__Secure-` / `__Host-` name without what its
        /// prefix requires: browsers reject these cookies.
        public static let insecure = Code(backing: .insecure)

        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do about it.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Errors compare by code.
    public static func == (lhs: CookieError, rhs: CookieError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let invalidName = CookieError(.invalidName, "invalid cookie name")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let invalidValue = CookieError(.invalidValue, "invalid cookie value")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let invalidAttribute = CookieError(.invalidAttribute, "invalid cookie attribute")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let tooLarge = CookieError(.tooLarge, "cookie too large")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let insecure = CookieError(.insecure, "insecure cookie")
}
