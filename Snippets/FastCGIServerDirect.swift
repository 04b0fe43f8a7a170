// The FastCGI server without the runner (ASGIFastCGI, "Serving behind nginx").
import ASGI
import ASGIFastCGI
import Logging
import ServiceLifecycle

let app = WSGIApp { environ, startResponse in
    _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
    return [Array("hello \(environ["PATH_INFO"] ?? "/")".utf8)]
}
let logger = Logger(label: "app")
let server = FastCGIServer(
    application: app,
    configuration: FastCGIConfiguration(bind: .unix(path: "/run/app/fcgi.sock", mode: 0o660), workerThreads: 8),
    logger: logger
)
try await ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
