public import ASGI

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
import Foundation
#endif

/// A whole response from a WSGI-style handler: status, headers and body, started with
/// `start_response` in one call.
///
/// ```swift
/// return try WSGIResponse.html(page)(startResponse)
/// return try WSGIResponse.redirect(to: "\(base)/notes")(startResponse)       // 303 See Other
/// var response = WSGIResponse.text("Saved.\n")
/// try response.setCookie(SetCookie(name: "seen", value: "1"))
/// return try response(startResponse)
/// ```
///
/// Calling it (`response(startResponse)`) calls `startResponse` with the status line and the
/// headers plus `Content-Length`, and returns the body for the handler to return. Streamed
/// responses do not need it: call `startResponse` and return a body as usual.
public struct WSGIResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The headers, in order; `Content-Length` is added when the response starts.
    public var headers: [(String, String)]
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int = 200, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: Int = 200) -> WSGIResponse {
        WSGIResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }

    /// A `text/html; charset=utf-8` response. Escape what goes into `html` with ``HTML/escape(_:)``.
    public static func html(_ html: String, status: Int = 200) -> WSGIResponse {
        WSGIResponse(status: status, headers: [("Content-Type", "text/html; charset=utf-8")], body: Array(html.utf8))
    }

    /// A `text/html; charset=utf-8` response from bytes already built (``HTML/escape(_:into:)-(String,_)``).
    public static func html(bytes: [UInt8], status: Int = 200) -> WSGIResponse {
        WSGIResponse(status: status, headers: [("Content-Type", "text/html; charset=utf-8")], body: bytes)
    }

    /// An `application/json` response with `value` encoded by `encoder`.
    public static func json(_ value: some Encodable, status: Int = 200, encoder: JSONEncoder = JSONEncoder()) throws -> WSGIResponse {
        WSGIResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(try encoder.encode(value)))
    }

    /// A redirect to `location` (`303 See Other` by default: the answer to a form post, followed
    /// with a GET). Bytes a header cannot carry as they are (controls, spaces, non-ASCII) are
    /// percent-encoded, so a location built from input cannot split the header.
    public static func redirect(to location: String, status: Int = 303) -> WSGIResponse {
        var safe: [UInt8] = []
        for byte in location.utf8 {
            if byte > 0x20 && byte < 0x7F {
                safe.append(byte)
            } else {
                PercentEncoding.append(CollectionOfOne(byte), .component, to: &safe)
            }
        }
        let target = String(decoding: safe, as: UTF8.self)
        var response = WSGIResponse.text("Redirecting to \(target)\n", status: status)
        response.headers.append(("Location", target))
        return response
    }

    /// The plain-text answer to a ``FormError``: its status and its message.
    public init(error: FormError) {
        self = .text(error.message + "\n", status: error.status)
    }

    /// Adds a `Set-Cookie` header.
    /// - Throws: ``CookieError`` when the cookie is not valid; the response is unchanged then.
    public mutating func setCookie(_ cookie: SetCookie) throws(CookieError) {
        headers.append(("Set-Cookie", try cookie.headerValue()))
    }

    /// Adds a `Set-Cookie` header that deletes cookie `name` (set with this `path` and `domain`).
    public mutating func deleteCookie(_ name: String, path: String? = "/", domain: String? = nil) throws(CookieError) {
        try setCookie(.deletion(name: name, path: path, domain: domain))
    }

    /// The status line, e.g. `"303 See Other"`.
    public var statusLine: String { HTTPStatus.line(status) }

    /// Starts the response: calls `startResponse` with the status line and the headers plus
    /// `Content-Length`, and returns the body for the handler to return.
    public func callAsFunction(_ startResponse: StartResponse) throws -> any WSGIBody {
        var headers = self.headers
        headers.append(("Content-Length", String(body.count)))
        _ = try startResponse(statusLine, headers, nil)
        return [body]
    }
}
