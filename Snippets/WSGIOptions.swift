// The WSGI-style layer's options, and the other direction ("The WSGI-style layer").
import ASGI

let legacy = WSGIApp { _, startResponse in
    _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
    return [Array("hello\n".utf8)]
}
let app = RequestTimeout(                            // 504 for a request still running after 30 s
    WSGIToASGI(
        legacy,
        maxRequestBodyBytes: 10 << 20,               // 413 for a body over 10 MiB
        threadSensitive: true,                       // a thread of its own for each request
        lifespan: WSGILifespan(startup: { print("warm the caches") }, shutdown: { print("close the files") })
    ),
    limit: .seconds(30)
)

// An async application under a blocking server: a WSGI-style application again.
let asyncApp = ASGIApp { scope, receive, send in
    try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
    try await send(.httpResponseBody(body: Array("hello from async code\n".utf8)))
}
let blocking = ASGIToWSGI(asyncApp)
