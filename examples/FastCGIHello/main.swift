// FastCGIHello: a WSGI-style hello and an ASGI hello behind nginx over FastCGI.
//
//   FastCGIHello wsgi|asgi --socket unix:PATH|HOST:PORT|stdin [--threads N] [--mode 0660]
//                [--status PATH] [--ping PATH] [--log-level LEVEL] [--no-access-log]
//                [--max-body BYTES] [--request-timeout SECONDS] [--graceful-timeout SECONDS]
//                [--slow SECONDS] [--root-path PATH]
//
// Routes (both applications):
//   .../upload   reads the whole request body and answers with its size ("received N bytes")
//   anything  "hello" (text/plain, Content-Length 5)
//
// SIGTERM / SIGINT: stop accepting, finish in-flight requests, exit 0.

import ASGI
import ASGIFastCGI
import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// The command line.
struct Options {
    var kind = "wsgi"
    var bind: FastCGIConfiguration.Bind = .inherited
    var threads: Int? = nil
    var logLevel = Logger.Level.info
    var accessLog = true
    var statusPath: String? = nil
    var pingPath: String? = nil
    var maxBody: Int? = 100 * 1024 * 1024
    var requestTimeout: Duration? = .seconds(60)
    var gracefulTimeout: Duration = .seconds(30)
    var slow: Duration? = .seconds(5)
    var rootPath: String? = nil

    static func usage(_ message: String) -> Never {
        let text = """
            FastCGIHello: \(message)
            usage: FastCGIHello wsgi|asgi --socket unix:PATH|HOST:PORT|stdin [--threads N] [--mode OCTAL]
                   [--status PATH] [--ping PATH] [--log-level LEVEL] [--no-access-log] [--max-body BYTES]
                   [--request-timeout SECONDS] [--graceful-timeout SECONDS] [--slow SECONDS] [--root-path PATH]

            """
        _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        exit(2)
    }

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        guard let kind = arguments.first, kind == "wsgi" || kind == "asgi" else { usage("the first argument is wsgi or asgi") }
        options.kind = kind
        var socketText: String? = nil
        var mode: UInt16 = 0o660
        var index = 1
        func value(_ flag: String) -> String {
            index += 1
            guard index < arguments.count else { usage("\(flag) needs a value") }
            return arguments[index]
        }
        func seconds(_ flag: String) -> Duration {
            let text = value(flag)
            guard let number = Double(text), number >= 0 else { usage("\(flag): '\(text)' is not a number of seconds") }
            return .milliseconds(Int64(number * 1000))
        }
        while index < arguments.count {
            let flag = arguments[index]
            switch flag {
            case "--socket": socketText = value(flag)
            case "--threads":
                guard let threads = Int(value(flag)), threads > 0 else { usage("--threads needs a positive number") }
                options.threads = threads
            case "--mode":
                guard let parsed = UInt16(value(flag), radix: 8) else { usage("--mode needs an octal mode such as 0660") }
                mode = parsed
            case "--status": options.statusPath = value(flag)
            case "--ping": options.pingPath = value(flag)
            case "--log-level":
                guard let level = Logger.Level(rawValue: value(flag)) else { usage("unknown log level") }
                options.logLevel = level
            case "--no-access-log": options.accessLog = false
            case "--max-body":
                guard let bytes = Int(value(flag)) else { usage("--max-body needs a number of bytes") }
                options.maxBody = bytes
            case "--request-timeout": options.requestTimeout = seconds(flag)
            case "--graceful-timeout": options.gracefulTimeout = seconds(flag)
            case "--slow": options.slow = seconds(flag)
            case "--root-path": options.rootPath = value(flag)
            default: usage("unknown argument \(flag)")
            }
            index += 1
        }
        guard let socketText, let bind = FastCGIConfiguration.Bind(socketText, mode: mode) else {
            usage("--socket unix:PATH | HOST:PORT | stdin is required")
        }
        options.bind = bind
        return options
    }
}

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let level = options.logLevel
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = level
    return handler
}
var logger = Logger(label: "FastCGIHello")
logger.logLevel = options.logLevel

let configuration = FastCGIConfiguration(
    bind: options.bind,
    workerThreads: options.threads,
    maxRequestBodyBytes: options.maxBody,
    requestTimeout: options.requestTimeout,
    gracefulShutdownTimeout: options.gracefulTimeout,
    slowRequestThreshold: options.slow,
    statusPath: options.statusPath,
    pingPath: options.pingPath,
    rootPath: options.rootPath,
    accessLog: options.accessLog
)

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

let server = options.kind == "wsgi"
    ? FastCGIServer(application: wsgiHello, configuration: configuration, logger: logger)
    : FastCGIServer(application: asgiHello, configuration: configuration, logger: logger)
let group = ServiceGroup(
    configuration: ServiceGroupConfiguration(
        services: [.init(service: server)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    )
)
do {
    try await group.run()
} catch {
    logger.critical("FastCGIHello failed: \(error)")
    exit(1)
}
