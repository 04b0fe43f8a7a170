// Forms, escaping and responses for a WSGI-style handler (ASGIToolkit).
import ASGI
import ASGIToolkit

let app = WSGIApp { environ, startResponse in
    let request = WSGIRequest(environ)
    switch (request.method, request.path) {
    case ("POST", "/greet"):
        let name = try request.form()["name"] ?? "stranger"
        return try WSGIResponse.html("<h1>Hello, \(HTML.escape(name))!</h1>")(startResponse)
    default:
        return try WSGIResponse.text("Not found\n", status: 404)(startResponse)
    }
}
