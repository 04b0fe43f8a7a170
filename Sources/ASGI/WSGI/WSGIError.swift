/// Errors of the WSGI-style layer, each with a message that says what happened.
public struct WSGIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public enum Code: String, Hashable, Sendable {
        /// The client went away while the request was being read or the response written.
        case clientDisconnected
        /// The request body is larger than the configured limit (HTTP 413).
        case requestBodyTooLarge
        /// `startResponse` got a status that is not a three-digit code and optional reason.
        case invalidStatus
        /// `startResponse` got a header name or value that HTTP cannot carry.
        case invalidHeader
        /// `startResponse` was called again without an error, or after the headers were sent.
        case startResponseTwice
        /// The body or `write` produced output before `startResponse` was called.
        case responseNotStarted
        /// A request header repeats more often than the limit (HTTP 400).
        case tooManyDuplicateHeaders
        /// The scope is not one a WSGI-style application can serve.
        case unsupportedScope
    }

    /// What went wrong.
    public let code: Code
    /// Details for the log or the developer.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The client went away.
    public static let clientDisconnected = WSGIError(.clientDisconnected, "The client disconnected.")

    public static func == (lhs: WSGIError, rhs: WSGIError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
