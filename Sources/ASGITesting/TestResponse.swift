import ASGI

/// A complete HTTP response, as ``HTTPCommunicator/getResponse(timeout:)`` gathers it.
public struct TestResponse: Sendable, Hashable {
    /// The status code.
    public var status: Int
    /// The response headers, order and repeats kept.
    public var headers: ASGIHeaders
    /// The body: every `http.response.body` chunk, joined.
    public var body: [UInt8]
    /// The trailers (`http.response.trailers`), empty if none were sent.
    public var trailers: ASGIHeaders
    /// The file the application sent with `http.response.pathsend`, if it did (its bytes are not read).
    public var pathsend: String?

    /// Creates a response.
    public init(status: Int, headers: ASGIHeaders = [], body: [UInt8] = [], trailers: ASGIHeaders = [], pathsend: String? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.pathsend = pathsend
    }

    /// The body decoded as UTF-8 (invalid sequences become U+FFFD).
    public var text: String {
        String(decoding: body, as: UTF8.self)
    }
}
