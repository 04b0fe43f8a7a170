/// What a response's head says about its body, and how much of the body went out against it:
/// the framing state every frontend keeps for a response.
///
/// A bodiless status (1xx, 204, 304) and any answer to `HEAD` carry no body; a declared
/// `Content-Length` bounds the body, and a head has at most one. ``admit(_:)`` says how much of the
/// next chunk may go out, so a frontend never writes past what the head announced; ``shortfall``
/// and ``overrun`` tell it whether the application broke its own framing, so that the connection
/// cannot be trusted with another response (``breaksConnection``).
///
/// ```swift
/// var framing = try ResponseFraming(status: 200, headers: [("content-length", "5")], requestMethod: "GET")
/// framing.admit(8)          // 5: three bytes are dropped
/// framing.isSatisfied       // true: iteration can stop
/// ```
@_spi(ASGIFrontend) public struct ResponseFraming: Sendable, Hashable {
    /// A framing header no response can be sent with.
    public enum Problem: Error, Hashable {
        /// A `Content-Length` value that is not a length.
        case malformedContentLength(String)
        /// Two `Content-Length` headers with different values.
        case conflictingContentLengths(String, String)
        /// The same `Content-Length` twice: a response has one.
        case duplicateContentLength(String)

        /// The problem in words.
        public var message: String {
            switch self {
            case .malformedContentLength(let value):
                return "Content-Length '\(value)' is not a non-negative integer"
            case .conflictingContentLengths(let first, let second):
                return "two Content-Length headers disagree ('\(first)' and '\(second)')"
            case .duplicateContentLength(let value):
                return "Content-Length '\(value)' is given twice; a response has one"
            }
        }
    }

    /// The response status.
    public let status: Int
    /// Whether the response may carry body bytes (not a bodiless status, not an answer to `HEAD`).
    public let bodyAllowed: Bool
    /// The declared `Content-Length`, if the head has one.
    public let declaredLength: Int?
    /// Body bytes let through so far.
    public private(set) var sent = 0
    /// Body bytes dropped: past the declared length, or any for a response that carries none.
    public private(set) var excess = 0
    /// Body bytes dropped past the declared length of a response that carries a body: the
    /// application sent more than it announced (bytes dropped for `HEAD` or a bodiless status are
    /// not counted: dropping those is the rule, not an application's fault).
    public private(set) var overrun = 0

    /// Reads the framing of a response head.
    /// - Throws: ``Problem`` for a malformed or repeated `Content-Length`.
    public init(status: Int, headers: ASGIHeaders, requestMethod: String) throws(Problem) {
        var declared: Int?
        var declaredText: String?
        for header in headers where header.name.count == 14 && asciiCaseInsensitiveEquals(header.name, Self.contentLengthName) {
            guard case .length(let length) = ContentLength.parse(header.value) else {
                throw .malformedContentLength(header.valueString)
            }
            if let declared {
                if declared != length { throw .conflictingContentLengths(declaredText ?? "", header.valueString) }
                throw .duplicateContentLength(header.valueString)
            }
            declared = length
            declaredText = header.valueString
        }
        self.status = status
        self.declaredLength = declared
        self.bodyAllowed = !HTTPStatus.isBodiless(status) && requestMethod != "HEAD"
    }

    /// Checks an application's `http.response.start` by every rule a response head must pass (a
    /// final status from 200 to 599, fields HTTP can carry, a well-formed `Content-Length`) and reads its
    /// framing: the one check every frontend makes of a response head.
    /// - Throws: ``ASGIProtocolError`` naming the event and what is wrong.
    public static func checkingStart(status: Int, headers: ASGIHeaders, requestMethod: String, event: SendEvent) throws -> ResponseFraming {
        guard HTTPStatus.isValid(status) else {
            throw ASGIProtocolError.unexpected(event, "status \(status) is not an HTTP status (100 to 599)")
        }
        // A 1xx head is not a response: the client would wait for the final one after it (and read
        // whatever follows as that), so the answer needs a final status (as h11 refuses it).
        guard status >= 200 else {
            throw ASGIProtocolError.unexpected(event, "status \(status) is informational; a response needs a final status (200 to 599)")
        }
        try HTTPFieldValidator.validate(headers, in: event)
        do {
            return try ResponseFraming(status: status, headers: headers, requestMethod: requestMethod)
        } catch {
            throw ASGIProtocolError.unexpected(event, error.message)
        }
    }

    /// How many of `count` body bytes may go out now (the rest is counted as ``excess``).
    public mutating func admit(_ count: Int) -> Int {
        var allowed = bodyAllowed ? count : 0
        if let declaredLength { allowed = min(allowed, max(0, declaredLength - sent)) }
        sent += allowed
        excess += count - allowed
        if bodyAllowed { overrun += count - allowed }
        return allowed
    }

    /// Whether no more body bytes may go out (the declared length is reached, or none are allowed).
    public var isSatisfied: Bool {
        !bodyAllowed || declaredLength.map { sent >= $0 } ?? false
    }

    /// Whether letting `count` more bytes out reaches the end of the declared body.
    public func completes(with count: Int) -> Bool {
        !bodyAllowed || declaredLength.map { sent + count >= $0 } ?? false
    }

    /// Declared bytes that never went out (the response ended short), or `nil` when none are missing.
    public var shortfall: Int? {
        guard bodyAllowed, let declaredLength, sent < declaredLength else { return nil }
        return declaredLength - sent
    }

    /// Whether the application broke the head's framing, so the connection must close after this
    /// response: the body ended short of its declared length (the client would read the next
    /// response as body), or went past it (the rest was dropped; the application is at fault and
    /// the client may have been meant to read something else).
    public var breaksConnection: Bool { shortfall != nil || overrun > 0 }

    private static let contentLengthName = Array("content-length".utf8)
}
