import Foundation

/// Fixtures/reference.json: what Python's standard library and werkzeug make of the same inputs,
/// written by Fixtures/generate_reference.py (ReferenceTests checks that it is current).
struct ReferenceFixture: Decodable {
    /// A list of name-value pairs, or `{"error": "…"}` when the library raised.
    enum Pairs: Decodable {
        case pairs([[String]])
        case error(String)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let pairs = try? container.decode([[String]].self) {
                self = .pairs(pairs)
            } else {
                self = .error(try container.decode([String: String].self)["error"] ?? "?")
            }
        }
    }

    struct URLEncodedCase: Decodable {
        var input: String
        var stdlib: [[String]]
        var werkzeug_form: Pairs
        var werkzeug_args: Pairs
        var utf8: Bool
    }

    struct CookieCase: Decodable {
        var input: String
        var werkzeug: [[String]]
        var werkzeug_environ: Pairs
        var http_cookies: [[String]]?
    }

    struct MultipartCase: Decodable {
        struct Result: Decodable {
            var fields: [[String]]?
            var files: [[String?]]?
            var error: String?
        }
        var content_type: String
        var body: String
        var werkzeug: Result
    }

    struct EscapingCase: Decodable {
        var text: String
        var html: String
        var component: String
        var path: String
        var form: String
    }

    var python: String
    var werkzeug: String
    var urlencoded: [URLEncodedCase]
    var cookies: [CookieCase]
    var multipart: [MultipartCase]
    var escaping: [EscapingCase]

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static let shared: ReferenceFixture = {
        do {
            let data = try Data(contentsOf: directory.appendingPathComponent("reference.json"))
            return try JSONDecoder().decode(ReferenceFixture.self, from: data)
        } catch {
            fatalError(
                "Cannot read Fixtures/reference.json: \(error). Regenerate it with python3 Tests/ASGIToolkitTests/Fixtures/generate_reference.py"
            )
        }
    }()
}
