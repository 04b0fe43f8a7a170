// The runner: serve a WSGI-style handler over HTTP and FastCGI from supervised workers
// (README, "Serving behind nginx").
import ASGI
import Gateway

let legacy = WSGIApp { environ, startResponse in
    _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
    return [Array("hello from \(environ["PATH_INFO"] ?? "/")\n".utf8)]
}
try await Gateway.run(legacy)   // reads the command line: --http, --fastcgi, --workers, --threads, ...
