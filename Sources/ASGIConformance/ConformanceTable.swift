public import Foundation

/// A request as every frontend is asked it in the conformance tests: the target below the mount
/// point `/app`, as sent.
public struct ConformanceProbe: Sendable {
    public var name: String
    public var method: String
    public var target: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Sent without `Connection: close`, so the server frames the body (and a cut shows).
    public var keepAlive: Bool

    public init(name: String, method: String = "GET", target: String, headers: [(String, String)] = [], body: [UInt8] = [], keepAlive: Bool = false) {
        self.name = name
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }
}

/// The committed tables every frontend of the package is held to (`Tests/ConformanceTable`): the
/// whole environ and scope of a set of probes, and the answers to a set of edge cases.
public enum ConformanceTable {
    /// The mount point every frontend serves the conformance applications under.
    public static let mountPoint = "/app"

    /// `Tests/ConformanceTable` of the checkout this library was built from.
    public static var directory: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/ConformanceTable")
    }

    /// The probes whose whole environ and scope every frontend must build alike.
    public static let scopeProbes: [ConformanceProbe] = [
        ConformanceProbe(name: "non-ASCII path and query", target: "/items/caf%C3%A9?x=1&y=%20z", headers: [("X-Custom", "one"), ("Cookie", "a=1")]),
        ConformanceProbe(
            name: "form body",
            method: "POST",
            target: "/forms/signup",
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "19")],
            body: Array("name=ada&lang=swift".utf8)
        ),
        ConformanceProbe(name: "escapes and a fragment", target: "/a%20b%2Fc?q=1#frag"),
        ConformanceProbe(
            name: "repeated and underscored headers",
            target: "/headers",
            headers: [("X-Custom", "one"), ("X-Custom", "two"), ("Cookie", "a=1"), ("Cookie", "b=2"), ("X-User", "alice"), ("X_User", "admin")]
        ),
    ]

    /// The expected normalized dumps, by application kind (`wsgi`, `asgi`) and probe name.
    public static func scopes() throws -> [String: [String: [String: String]]] {
        let data = try Data(contentsOf: directory.appendingPathComponent("scopes.json"))
        return try JSONDecoder().decode([String: [String: [String: String]]].self, from: data)
    }

    /// Rewrites one kind's dumps in `scopes.json`: only after a reviewed change of a rule.
    public static func write(kind: String, _ dumps: [String: [String: String]]) throws {
        var all = (try? scopes()) ?? [:]
        all[kind] = dumps
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(all).write(to: directory.appendingPathComponent("scopes.json"))
    }

    /// One edge case of `answers.json`.
    public struct AnswerCase: Decodable, Sendable {
        public struct Expectation: Decodable, Sendable {
            public var status: Int
            public var body: String?
            public var bodyPrefix: String?
            public var complete: Bool?
            public var headers: [String: String]?
            /// Keys of the JSON dump, by application kind.
            public var json: [String: [String: String]]?
            /// The body is the conformance file.
            public var file: Bool?
        }

        public var name: String
        public var method: String?
        public var target: String
        public var headers: [[String]]?
        public var body: String?
        /// Malformed on the wire: only a frontend with a wire can be sent it.
        public var wire: Bool?
        /// The status nginx answers with itself (it refuses the request).
        public var nginxStatus: Int?
        /// The status Hummingbird's own HTTP parser answers with before the mount sees the request.
        public var hummingbirdStatus: Int?
        /// Sent without `Connection: close`, so the server frames the body.
        public var keepAlive: Bool?
        public var expect: Expectation

        public var probe: ConformanceProbe {
            ConformanceProbe(
                name: name,
                method: method ?? "GET",
                target: target,
                headers: (headers ?? []).map { ($0[0], $0[1]) },
                body: Array((body ?? "").utf8),
                keepAlive: keepAlive ?? false
            )
        }
    }

    /// The edge cases.
    public static func answers() throws -> [AnswerCase] {
        try JSONDecoder().decode([AnswerCase].self, from: Data(contentsOf: directory.appendingPathComponent("answers.json")))
    }

    /// The FastCGI parameters nginx's `fastcgi_params` sends that no HTTP request line or header
    /// carries.
    public static let fastcgiOnlyVariables: Set<String> = [
        "DOCUMENT_ROOT", "DOCUMENT_URI", "GATEWAY_INTERFACE", "SERVER_SOFTWARE", "REQUEST_SCHEME",
        "SERVER_ADDR", "REDIRECT_STATUS", "FCGI_ROLE", "SCRIPT_FILENAME", "REMOTE_USER",
    ]

    /// A dump with what belongs to the transport taken out: ports (the client's, each server's,
    /// the `Host` header's), the extensions (compared apart), `dropping` variables, header lists
    /// sorted (CGI keeps `Content-Type`/`Content-Length` apart from the others), and, with
    /// `droppingUnderscoredHeaders`, scope headers whose name has `_` (nginx drops those).
    public static func normalized(
        _ dump: [String: String],
        dropping variables: Set<String> = [],
        droppingUnderscoredHeaders: Bool = false
    ) -> [String: String] {
        var dump = dump
        for key in ["REMOTE_PORT", "SERVER_PORT"] where dump[key] != nil { dump[key] = "<port>" }
        for key in ["client", "server"] {
            if let value = dump[key], let colon = value.lastIndex(of: ":") { dump[key] = value[..<colon] + ":<port>" }
        }
        if let host = dump["HTTP_HOST"] { dump["HTTP_HOST"] = withoutPort(host) }
        for key in variables { dump[key] = nil }
        dump["extensions"] = nil
        dump["asgi.scope.extensions"] = nil
        if let headers = dump["headers"] {
            var lines = headers.split(separator: "\n").map { line in
                line.hasPrefix("host: ") ? "host: " + withoutPort(String(line.dropFirst(6))) : String(line)
            }.sorted()
            if droppingUnderscoredHeaders { lines.removeAll { $0.split(separator: ":").first?.contains("_") == true } }
            dump["headers"] = lines.joined(separator: "\n")
        }
        return dump
    }

    private static func withoutPort(_ host: String) -> String {
        guard let colon = host.lastIndex(of: ":") else { return host }
        return String(host[..<colon])
    }
}
