// A blocking, WSGI-style handler made an ASGI application (README, "The WSGI-style layer").
import ASGI

let legacy = WSGIApp { environ, startResponse in
    let name = String(decoding: try environ.input.read(), as: UTF8.self)   // the request body, streamed
    _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
    return [Array("hello \(name) at \(environ["PATH_INFO"] ?? "/")\n".utf8)]
}
let app = WSGIToASGI(legacy)   // an ASGIApplication; requests run on a bounded blocking thread pool
