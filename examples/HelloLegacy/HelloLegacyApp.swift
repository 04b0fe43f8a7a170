import ASGI
import ASGIToolkit

/// The example legacy application: a blocking, WSGI-style handler that routes on `PATH_INFO`,
/// reads a form POST from `environ.input`, streams a response and shows an error page.
///
/// It knows nothing of async code: the same value is served over HTTP (`--http`), behind nginx
/// over FastCGI (`--fastcgi`), and in tests through `HTTPCommunicator`. Forms, escaping and
/// responses come from `ASGIToolkit`, so hostile input gets a plain 4xx answer, never a trap.
enum HelloLegacy {
    static let app = WSGIApp { environ, startResponse in
        let request = WSGIRequest(environ)
        switch (request.method, request.path) {
        case ("GET", "/"), ("HEAD", "/"):
            return try page(indexPage(scriptName: request.scriptName))(startResponse)
        case ("POST", "/greet"):
            let form: FormFields
            do {
                form = try request.form()
            } catch let error as FormError {
                return try WSGIResponse(error: error)(startResponse)
            }
            let name = form["name"].flatMap { $0.isEmpty ? nil : $0 } ?? "stranger"
            return try page("<h1>Hello, \(HTML.escape(name))!</h1><p><a href=\"./\">back</a></p>")(startResponse)
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
            return try WSGIResponse.text(lines.joined(separator: "\n") + "\n")(startResponse)
        case ("GET", "/error"):
            throw LegacyFailure(reason: "the legacy code failed on purpose")
        default:
            return try page("<h1>Not found</h1><p>\(HTML.escape(request.path))</p>", status: 404)(startResponse)
        }
    }

    /// An error the legacy code raises; the server answers 500 and logs it.
    struct LegacyFailure: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    /// An HTML page around `body` (already escaped).
    static func page(_ body: String, status: Int = 200) -> WSGIResponse {
        .html("<!doctype html><meta charset=utf-8><title>HelloLegacy</title>\(body)\n", status: status)
    }

    static func indexPage(scriptName: String) -> String {
        let base = HTML.escape(PercentEncoding.encode(scriptName, .path))
        return """
            <h1>HelloLegacy</h1>
            <p>A blocking, WSGI-style Swift handler served by swift-asgi.</p>
            <form method="post" action="\(base)/greet"><input name="name" placeholder="your name"> <button>Greet</button></form>
            <ul><li><a href="\(base)/stream">a streamed response</a></li>
            <li><a href="\(base)/environ">the environ</a></li>
            <li><a href="\(base)/error">an error page</a></li></ul>
            """
    }
}
