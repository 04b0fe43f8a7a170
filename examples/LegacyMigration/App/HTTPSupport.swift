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

/// The fields of an `application/x-www-form-urlencoded` body; the first value of a repeated
/// name wins.
func decodeForm(_ bytes: [UInt8]) -> [String: String] {
    var fields: [String: String] = [:]
    for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
        let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
        let name = percentDecode(parts[0])
        let value = parts.count > 1 ? percentDecode(parts[1]) : ""
        if fields[name] == nil { fields[name] = value }
    }
    return fields
}

/// Decodes `+` as a space and `%XX` escapes, then the bytes as UTF-8.
private func percentDecode(_ bytes: ArraySlice<UInt8>) -> String {
    var decoded: [UInt8] = []
    decoded.reserveCapacity(bytes.count)
    var index = bytes.startIndex
    while index < bytes.endIndex {
        let byte = bytes[index]
        if byte == UInt8(ascii: "+") {
            decoded.append(UInt8(ascii: " "))
        } else if byte == UInt8(ascii: "%"), index + 2 < bytes.endIndex, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
            decoded.append(high << 4 | low)
            index += 2
        } else {
            decoded.append(byte)
        }
        index += 1
    }
    return String(decoding: decoded, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Escapes text for HTML element content and attribute values.
func escapeHTML(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&#39;"
        default: escaped.append(character)
        }
    }
    return escaped
}

extension String {
    /// The string without leading and trailing white space.
    var trimmed: String {
        trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
