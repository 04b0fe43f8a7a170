// A server for the ASGIHTTPServer tests that move large bodies: it runs in a process of its own,
// so the test can read its memory high-water mark (and the bodies never swell the test process).
//
//   StreamingServer [--event-loops]
//     POST /upload          reads the body through receive() and answers its length
//     GET  /download?mib=N  streams N MiB in 64 KiB body events
//     GET  /file?PATH       sends the file at PATH with http.response.pathsend
//     GET  /wsgi-file?PATH  the same from a WSGI-style application's wsgi.file_wrapper
// Prints "listening PORT" once it listens on 127.0.0.1 (an ephemeral port); SIGTERM stops it.
import ASGI
import ASGIHTTPServer
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A WSGI-style application that answers with the file its query names, through `wsgi.file_wrapper`.
let fileApp = WSGIToASGI(
    WSGIApp { environ, startResponse in
        _ = try startResponse("200 OK", [("Content-Type", "application/octet-stream")], nil)
        return try environ.fileWrapper(path: environ["QUERY_STRING"] ?? "")
    }
)

let app = ASGIApp { scope, receive, send in
    guard case .http(let http) = scope else { return }
    switch http.path {
    case "/file":
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "application/octet-stream")]))
        try await send(.httpResponsePathsend(path: String(decoding: http.queryString, as: UTF8.self)))
    case "/wsgi-file":
        try await fileApp(scope: scope, receive: receive, send: send)
    case "/upload":
        var total = 0
        loop: while true {
            switch try await receive() {
            case .httpRequest(let body, let more):
                total += body.count
                if !more { break loop }
            default:
                break loop
            }
        }
        let answer = Array("\(total)".utf8)
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
        try await send(.httpResponseBody(body: answer))
    case "/download":
        let query = String(decoding: http.queryString, as: UTF8.self)
        let mib = Int(query.split(separator: "=").last ?? "1") ?? 1
        let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
        let count = mib * 16
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "application/octet-stream")]))
        for index in 0..<count {
            try await send(.httpResponseBody(body: chunk, moreBody: index < count - 1))
        }
    default:
        try await send(.httpResponseStart(status: 404))
        try await send(.httpResponseBody())
    }
}

var logger = Logger(label: "StreamingServer")
logger.logLevel = .warning
let configuration = HTTPServerConfiguration(
    port: 0,
    lifespan: .off,
    accessLog: false,
    runsOnEventLoops: CommandLine.arguments.contains("--event-loops")
)
let server = ASGIHTTPServer(application: app, configuration: configuration, logger: logger) { address in
    print("listening \(address.port ?? 0)")
    fflush(nil)
}
try await server.runService()
