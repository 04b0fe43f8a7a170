/// An answer a frontend gives on the application's behalf (a limit, a refused request, an
/// application that failed before its response started): the one form of every such answer,
/// whichever server sends it.
///
/// The body is the reason phrase, followed by `": "` and a detail when the detail helps the client
/// (what limit its request broke); server faults never carry one (the log has it).
///
/// ```swift
/// PlainResponse(status: 413, detail: "the request body is larger than the limit of 1048576 bytes")
/// // 413, "Content Too Large: the request body is larger than the limit of 1048576 bytes"
/// ```
@_spi(ASGIFrontend) public struct PlainResponse: Sendable, Hashable {
    /// The status code.
    public var status: Int
    /// `content-type` and `content-length` (the frontend adds its own framing and `date`).
    public var headers: ASGIHeaders
    /// The text body.
    public var body: [UInt8]

    /// An answer with `status`'s reason phrase and an optional detail as its body.
    public init(status: Int, detail: String? = nil) {
        let reason = HTTPStatus.reasonPhrase(status)
        let text = detail.map { "\(reason): \($0)" } ?? reason
        self.status = status
        self.body = Array(text.utf8)
        self.headers = [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", String(body.count)),
        ]
    }

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The application failed before its response started (500).
    public static let internalServerError = PlainResponse(status: 500)
    /// No capacity to serve the request now (503).
    public static let serviceUnavailable = PlainResponse(status: 503)

    /// A declared or counted request body past `limit` bytes (413).
    public static func bodyTooLarge(limit: Int) -> PlainResponse {
        PlainResponse(status: 413, detail: "the request body is larger than the limit of \(limit) bytes")
    }

    /// The request body declared larger than `limit`, before any of it was read (413).
    public static func declaredBodyTooLarge(_ declared: Int, limit: Int) -> PlainResponse {
        PlainResponse(status: 413, detail: "the request body of \(declared) bytes is larger than the limit of \(limit) bytes")
    }

    /// The request's `Content-Length` is not a length (400).
    public static func invalidContentLength(_ value: String) -> PlainResponse {
        PlainResponse(status: 400, detail: "Content-Length '\(value)' is not a non-negative integer")
    }

    /// The request's `Content-Length` is past any body this server can take (413).
    public static func contentLengthTooLarge(_ value: String) -> PlainResponse {
        PlainResponse(status: 413, detail: "Content-Length '\(value)' is larger than any body this server accepts")
    }

    /// The request body stopped arriving, or arrived slower than the server accepts (408).
    public static let bodyReadTimeout = PlainResponse(status: 408, detail: "the request body did not arrive in time")

    /// A request the environ cannot be built for (400), e.g. too many repeated headers.
    public static func badRequest(_ detail: String) -> PlainResponse {
        PlainResponse(status: 400, detail: detail)
    }

    /// The answer when `maxRequestBodyBytes` is passed: `nil` when `declared` is within it.
    public static func checkDeclaredBody(_ declared: Int?, limit: Int?) -> PlainResponse? {
        guard let declared, let limit, declared > limit else { return nil }
        return declaredBodyTooLarge(declared, limit: limit)
    }
}
