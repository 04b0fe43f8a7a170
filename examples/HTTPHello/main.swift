// Hello-world apps for the benchmark (bench/http_hello.sh): a plain ASGI hello, or a WSGI-style
// hello served through WSGIToASGI, on ASGIHTTPServer.
//
//   HTTPHello [--port 8080] [--wsgi] [--cooperative-pool] [--access-log] [--log-level LEVEL]
//
// --cooperative-pool runs connection tasks on Swift's global pool instead of the event loops
// (HTTPServerConfiguration.runsOnEventLoops = false).
import ASGI
import ASGIHTTPServer
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The plain ASGI hello: one start, one body.
let asgiHello = ASGIApp { scope, _, send in
    guard case .http = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
    try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain; charset=utf-8")]))
    try await send(.httpResponseBody(body: Array("hello".utf8)))
}

/// The same answer from a blocking, WSGI-style application.
let wsgiHello = WSGIApp { _, startResponse in
    _ = try startResponse("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "5")], nil)
    return [Array("hello".utf8)]
}

var arguments = CommandLine.arguments.dropFirst()
var port = 8080
var wsgi = false
var accessLog = false
var logLevel = Logger.Level.notice
var onEventLoops = true
while let argument = arguments.popFirst() {
    switch argument {
    case "--port":
        guard let value = arguments.popFirst().flatMap({ Int($0) }) else {
            print("--port needs a number\n", terminator: "")
            exit(2)
        }
        port = value
    case "--wsgi": wsgi = true
    case "--cooperative-pool": onEventLoops = false
    case "--access-log":
        accessLog = true
        logLevel = min(logLevel, .info)
    case "--log-level":
        guard let value = arguments.popFirst().flatMap({ Logger.Level(rawValue: $0) }) else {
            print("--log-level needs trace, debug, info, notice, warning, error or critical\n", terminator: "")
            exit(2)
        }
        logLevel = value
    default:
        print("usage: HTTPHello [--port N] [--wsgi] [--cooperative-pool] [--access-log] [--log-level LEVEL]\n", terminator: "")
        exit(2)
    }
}

var logger = Logger(label: "HTTPHello")
logger.logLevel = logLevel
let application: any ASGIApplication = wsgi ? WSGIToASGI(wsgiHello, logger: logger) : asgiHello
let server = ASGIHTTPServer(
    application: application,
    configuration: HTTPServerConfiguration(port: port, lifespan: .off, accessLog: accessLog, runsOnEventLoops: onEventLoops),
    logger: logger
)
try await server.runService()
