// FastCGIHello: a WSGI-style hello and an ASGI hello behind nginx over FastCGI, served by the
// Gateway runner. Every option is the runner's (`FastCGIHello --help`); the kind of application
// comes from the environment: FASTCGI_HELLO_KIND=wsgi (default: the WSGI-style hello, on the
// FastCGI worker threads) or asgi (the ASGI hello, with the worker thread as its sync parent).
//
//   FastCGIHello --fastcgi unix:PATH|HOST:PORT|stdin [--threads N] [--workers 0] [--status PATH] ...
//
// Routes (both applications):
//   .../upload   reads the whole request body and answers with its size ("received N bytes")
//   anything  "hello" (text/plain, Content-Length 5)
//
// SIGTERM / SIGINT: stop accepting, finish in-flight requests, exit 0. A failure to serve (no
// listening socket on fd 0 for `--fastcgi stdin`, say) is printed, and the exit status is 1.

import ASGI
import Gateway

#if canImport(Glibc)
import Glibc
#endif

let hello: [UInt8] = Array("hello".utf8)

/// The WSGI-style hello: runs on the worker thread, no crossing.
let wsgiHello = WSGIApp { environ, startResponse in
    if (environ["PATH_INFO"] ?? "").hasSuffix("/upload") {
        var received = 0
        while true {
            let chunk = try environ.input.read(64 * 1024)
            if chunk.isEmpty { break }
            received += chunk.count
        }
        let body = Array("received \(received) bytes\n".utf8)
        _ = try startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", String(body.count))], nil)
        return [body]
    }
    _ = try startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")], nil)
    return [hello]
}

/// The ASGI hello: runs with the worker thread as its sync parent.
let asgiHello = ASGIApp { scope, receive, send in
    guard case .http(let http) = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
    if http.path.hasSuffix("/upload") {
        var received = 0
        loop: while true {
            switch try await receive() {
            case .httpRequest(let body, let moreBody):
                received += body.count
                if !moreBody { break loop }
            default:
                break loop
            }
        }
        let body = Array("received \(received) bytes\n".utf8)
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain"), ("content-length", String(body.count))]))
        try await send(.httpResponseBody(body: body))
        return
    }
    try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain"), ("content-length", "5")]))
    try await send(.httpResponseBody(body: hello))
}

do {
    if getenv("FASTCGI_HELLO_KIND").map({ String(cString: $0) }) == "asgi" {
        try await Gateway.run(asgiHello)
    } else {
        try await Gateway.run(wsgiHello)
    }
} catch {
    let message = "FastCGIHello failed: \(error)\n"
    _ = message.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    exit(1)
}
