// An ASGI application over HTTP (ASGIHTTPServer).
import ASGI
import ASGIHTTPServer
import Logging

let app = ASGIApp { scope, receive, send in
    guard case .http = scope else { return }
    try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
    try await send(.httpResponseBody(body: Array("hello".utf8)))
}
let server = ASGIHTTPServer(application: app, configuration: .init(port: 8080), logger: Logger(label: "app"))
try await server.runService()   // SIGTERM / SIGINT: graceful shutdown
