import ASGI
import Foundation

/// A whole response from an async handler, sent as one start and one body event.
struct Response: Sendable {
    var status: Int
    var headers: ASGIHeaders
    var body: [UInt8]

    /// A JSON response with `value` encoded (dates as ISO 8601).
    static func json(_ value: some Encodable, status: Int = 200) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        let body = Array(try encoder.encode(value))
        return Response(status: status, headers: [("content-type", "application/json")], body: body)
    }

    /// A JSON error: `{"error": message}`.
    static func error(_ status: Int, _ message: String, headers: ASGIHeaders = []) -> Response {
        // Encoding a dictionary of strings cannot fail.
        var response = (try? json(["error": message], status: status)) ?? Response(status: status, headers: [], body: [])
        response.headers.elements += headers.elements
        return response
    }

    /// A response of type `contentType` with `text` as its body.
    static func text(_ text: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [("content-type", contentType)], body: Array(text.utf8))
    }

    /// Sends the response, with its `content-length`.
    func send(with send: Send) async throws {
        var headers = self.headers
        headers.append("content-length", String(body.count))
        try await send(.httpResponseStart(status: status, headers: headers))
        try await send(.httpResponseBody(body: body, moreBody: false))
    }
}

/// Why a request body could not be read.
enum BodyError: Error {
    /// Larger than the limit.
    case tooLarge
    /// The client went away before sending it all.
    case disconnected
}

/// Reads the whole request body (at most `limit` bytes) from `http.request` events.
func readBody(_ receive: Receive, limit: Int) async throws -> [UInt8] {
    var body: [UInt8] = []
    while true {
        switch try await receive() {
        case .httpRequest(let chunk, let moreBody):
            guard body.count + chunk.count <= limit else { throw BodyError.tooLarge }
            body += chunk
            if !moreBody { return body }
        case .httpDisconnect:
            throw BodyError.disconnected
        default:
            continue
        }
    }
}

extension String {
    /// The string without leading and trailing white space.
    var trimmed: String {
        trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
