/// Errors of the WSGI-style layer, each with a message that says what happened and what to do.
///
/// Match on ``code``; new codes may be added in later versions, so `switch` over them with a
/// `default`. A client that went away is ``ClientDisconnectedError``, as under every server.
public struct WSGIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case requestBodyTooLarge
            case invalidStatus
            case invalidHeader
            case startResponseTwice
            case responseNotStarted
            case tooManyDuplicateHeaders
            case unsupportedScope
            case invalidFile
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// The request body is larger than the configured limit (HTTP 413).
        public static let requestBodyTooLarge = Code(.requestBodyTooLarge)
        /// `startResponse` got a status that is not a three-digit code and optional reason.
        public static let invalidStatus = Code(.invalidStatus)
        /// `startResponse` got a header name or value that HTTP cannot carry.
        public static let invalidHeader = Code(.invalidHeader)
        /// `startResponse` was called again without an error, or after the headers were sent.
        public static let startResponseTwice = Code(.startResponseTwice)
        /// The body or `write` produced output before `startResponse` was called.
        public static let responseNotStarted = Code(.responseNotStarted)
        /// A request header repeats more often than the limit (HTTP 400).
        public static let tooManyDuplicateHeaders = Code(.tooManyDuplicateHeaders)
        /// The scope is not one a WSGI-style application can serve.
        public static let unsupportedScope = Code(.unsupportedScope)
        /// A file body (``WSGIFileBody``) cannot be opened or read.
        public static let invalidFile = Code(.invalidFile)

        /// The code's name.
        public var description: String { backing.rawValue }
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

    /// The message.
    public var description: String { message }

    /// Errors are equal when their codes are.
    public static func == (lhs: WSGIError, rhs: WSGIError) -> Bool { lhs.code == rhs.code }
    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
