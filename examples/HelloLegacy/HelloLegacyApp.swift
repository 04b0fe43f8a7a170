import ASGI

/// The example legacy application: a blocking, WSGI-style handler that routes on `PATH_INFO`,
/// reads a form POST from `environ.input`, streams a response and shows an error page.
///
/// It knows nothing of async code: the same value is served over HTTP (`--http`), behind nginx
/// over FastCGI (`--fastcgi`), and in tests through `HTTPCommunicator`.
enum HelloLegacy {
    static let app = WSGIApp { environ, startResponse in
        let path = environ["PATH_INFO"].flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        let method = environ["REQUEST_METHOD"] ?? "GET"
        switch (method, path) {
        case ("GET", "/"), ("HEAD", "/"):
            return try html(startResponse, "200 OK", indexPage(scriptName: environ["SCRIPT_NAME"] ?? ""))
        case ("POST", "/greet"):
            let form = parseForm(try environ.input.read())
            let name = form["name"].flatMap { $0.isEmpty ? nil : $0 } ?? "stranger"
            return try html(startResponse, "200 OK", "<h1>Hello, \(escape(name))!</h1><p><a href=\"./\">back</a></p>")
        case ("GET", "/stream"):
            _ = try startResponse("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-cache")], nil)
            var line = 0
            return WSGIClosureBody(next: {
                guard line < 5 else { return nil }
                line += 1
                return Array("line \(line) of 5\n".utf8)
            })
        case ("GET", "/environ"):
            let lines = environ.variables.keys.sorted().map { "\($0)=\(environ.variables[$0] ?? "")" }
            _ = try startResponse("200 OK", [("Content-Type", "text/plain; charset=utf-8")], nil)
            return [Array((lines.joined(separator: "\n") + "\n").utf8)]
        case ("GET", "/error"):
            throw LegacyFailure(reason: "the legacy code failed on purpose")
        default:
            return try html(startResponse, "404 Not Found", "<h1>Not found</h1><p>\(escape(path))</p>")
        }
    }

    /// An error the legacy code raises; the server answers 500 and logs it.
    struct LegacyFailure: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    static func html(_ startResponse: StartResponse, _ status: String, _ body: String) throws -> any WSGIBody {
        let page = Array("<!doctype html><meta charset=utf-8><title>HelloLegacy</title>\(body)\n".utf8)
        _ = try startResponse(status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", String(page.count))], nil)
        return [page]
    }

    static func indexPage(scriptName: String) -> String {
        """
        <h1>HelloLegacy</h1>
        <p>A blocking, WSGI-style Swift handler served by swift-asgi.</p>
        <form method="post" action="\(scriptName)/greet"><input name="name" placeholder="your name"> <button>Greet</button></form>
        <ul><li><a href="\(scriptName)/stream">a streamed response</a></li>
        <li><a href="\(scriptName)/environ">the environ</a></li>
        <li><a href="\(scriptName)/error">an error page</a></li></ul>
        """
    }

    /// Parses `application/x-www-form-urlencoded`.
    static func parseForm(_ body: [UInt8]) -> [String: String] {
        var form: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { decode(String($0)) }
            form[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return form
    }

    static func decode(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                if let high = iterator.next(), let low = iterator.next(),
                   let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                    bytes.append(value)
                }
            default:
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func escape(_ text: String) -> String {
        text.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;").replacingAll("\"", "&quot;")
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, _ replacement: String) -> String {
        var result = ""
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}
