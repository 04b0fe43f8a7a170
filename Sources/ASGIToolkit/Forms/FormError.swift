/// Why a query string, form or multipart body could not be read.
///
/// Every error names the limit or the rule that stopped the parse and the HTTP status to answer
/// with (``status``); ``WSGIResponse/init(error:)`` turns one into that answer. Nothing is lost on
/// the way: a parse either returns every field or throws.
///
/// ```swift
/// do {
///     let form = try request.form()
/// } catch let error as FormError {
///     return try WSGIResponse(error: error)(startResponse)   // 413, 400… with the reason
/// }
/// ```
public struct FormError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching in `catch` clauses and tests.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Hashable, Sendable {
            case tooManyFields
            case bodyTooLarge
            case fieldTooLarge
            case fileTooLarge
            case partHeadersTooLarge
            case missingBoundary
            case malformedMultipart
            case truncatedBody
            case invalidContentLength
            case unsupportedMediaType
            case storageFailed
        }

        fileprivate let backing: Backing

        /// More fields (or multipart parts) than the limit allows (HTTP 413).
        public static let tooManyFields = Code(backing: .tooManyFields)
        /// The body, or the query string, is larger than the limit (HTTP 413).
        public static let bodyTooLarge = Code(backing: .bodyTooLarge)
        /// A multipart field that is not a file is larger than the limit (HTTP 413).
        public static let fieldTooLarge = Code(backing: .fieldTooLarge)
        /// An uploaded file is larger than the limit (HTTP 413).
        public static let fileTooLarge = Code(backing: .fileTooLarge)
        /// The header block of a multipart part is larger than the limit (HTTP 413).
        public static let partHeadersTooLarge = Code(backing: .partHeadersTooLarge)
        /// A multipart content type without a usable `boundary` parameter (HTTP 400).
        public static let missingBoundary = Code(backing: .missingBoundary)
        /// A multipart body that breaks RFC 7578 / RFC 2046 framing (HTTP 400).
        public static let malformedMultipart = Code(backing: .malformedMultipart)
        /// The body ended early: before its closing boundary, or before `CONTENT_LENGTH` bytes (HTTP 400).
        public static let truncatedBody = Code(backing: .truncatedBody)
        /// `CONTENT_LENGTH` is not a decimal number (HTTP 400).
        public static let invalidContentLength = Code(backing: .invalidContentLength)
        /// The body is not of the media type the caller asked to parse (HTTP 415).
        public static let unsupportedMediaType = Code(backing: .unsupportedMediaType)
        /// An upload could not be written to its temporary file (HTTP 500).
        public static let storageFailed = Code(backing: .storageFailed)

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

    /// The HTTP status that answers a request whose body or query caused this error.
    public var status: Int {
        switch code.backing {
        case .tooManyFields, .bodyTooLarge, .fieldTooLarge, .fileTooLarge, .partHeadersTooLarge: return 413
        case .missingBoundary, .malformedMultipart, .truncatedBody, .invalidContentLength: return 400
        case .unsupportedMediaType: return 415
        case .storageFailed: return 500
        }
    }

    public var description: String { message }

    /// Errors compare by code: `#expect(throws: FormError.tooManyFields) { … }`.
    public static func == (lhs: FormError, rhs: FormError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let tooManyFields = FormError(.tooManyFields, "too many fields")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let bodyTooLarge = FormError(.bodyTooLarge, "body too large")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let fieldTooLarge = FormError(.fieldTooLarge, "field too large")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let fileTooLarge = FormError(.fileTooLarge, "file too large")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let partHeadersTooLarge = FormError(.partHeadersTooLarge, "part headers too large")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let missingBoundary = FormError(.missingBoundary, "missing boundary")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let malformedMultipart = FormError(.malformedMultipart, "malformed multipart body")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let truncatedBody = FormError(.truncatedBody, "truncated body")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let invalidContentLength = FormError(.invalidContentLength, "invalid CONTENT_LENGTH")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let unsupportedMediaType = FormError(.unsupportedMediaType, "unsupported media type")
    /// An error with `code`, for matching (`#expect(throws:)`, `==`).
    public static let storageFailed = FormError(.storageFailed, "storage failed")
}
