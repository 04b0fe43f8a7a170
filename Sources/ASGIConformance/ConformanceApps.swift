public import ASGI
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the conformance applications observed beyond their answers (disconnects, `close()`).
public final class Observations: Sendable {
    private let events = Mutex<[String]>([])

    /// Creates an empty record.
    public init() {}

    /// Records an event.
    public func add(_ event: String) { events.withLock { $0.append(event) } }

    /// Every event so far, in order.
    public var all: [String] { events.withLock { $0 } }
}

/// One WSGI-style and one ASGI application that behave alike, served unchanged by every frontend.
/// Routes, below the mount point `/app`:
/// - `/hello`: 200 "hello" with `Content-Length: 5`;
/// - `/fail-before`: fails before its response started; `/fail-after`: after "partial";
/// - `/file`: the conformance file (`wsgi.file_wrapper` / `http.response.pathsend`);
/// - `/stream`: "tick" lines every few milliseconds until the client goes (observed);
/// - `/bad-length`: a response with `Content-Length: +5`; `/no-content`: a 204 with a body;
/// - anything else: its whole environ or scope (and the body it read) as JSON.
public enum ConformanceApps {
    /// What the ASGI application's lifespan puts in `state["greeting"]`.
    public static let greeting = "hello from lifespan"

    struct Failure: Error, CustomStringConvertible {
        var description: String { "the conformance application failed on purpose" }
    }

    /// The WSGI-style application; `file` is what `/file` sends.
    public static func wsgi(file: String, observations: Observations) -> WSGIApp {
        WSGIApp { environ, startResponse in
            switch environ["PATH_INFO"] ?? "" {
            case "/hello":
                _ = try startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")], nil)
                return [Array("hello".utf8)]
            case "/fail-before":
                throw Failure()
            case "/fail-after":
                _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
                var sent = false
                return WSGIClosureBody(next: {
                    guard !sent else { throw Failure() }
                    sent = true
                    return Array("partial".utf8)
                })
            case "/file":
                _ = try startResponse("200 OK", [("Content-Type", "application/octet-stream")], nil)
                return try environ.fileWrapper(path: file)
            case "/stream":
                _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
                var ticks = 0
                return WSGIClosureBody(
                    next: {
                        guard ticks < 3000 else { return nil }
                        if ticks > 0 { usleep(10_000) }
                        ticks += 1
                        return Array("tick \(ticks)\n".utf8)
                    },
                    close: { observations.add("wsgi closed after \(ticks >= 3000 ? "the end" : "a disconnect")") }
                )
            case "/bad-length":
                _ = try startResponse("200 OK", [("Content-Length", "+5")], nil)
                return [Array("hello".utf8)]
            case "/no-content":
                _ = try startResponse("204 No Content", [], nil)
                return [Array("x".utf8)]
            default:
                return try dump(environ, startResponse)
            }
        }
    }

    /// The environ, every key, as JSON (the `wsgi.*` entries as their values or types).
    static func dump(_ environ: Environ, _ startResponse: StartResponse) throws -> [[UInt8]] {
        var object = environ.variables
        object["wsgi.version"] = "\(environ.version.0).\(environ.version.1)"
        object["wsgi.url_scheme"] = environ.urlScheme
        object["wsgi.multithread"] = String(environ.multithread)
        object["wsgi.multiprocess"] = String(environ.multiprocess)
        object["wsgi.run_once"] = String(environ.runOnce)
        object["wsgi.input"] = String(describing: type(of: environ.input))
        object["wsgi.errors"] = String(describing: type(of: environ.errors))
        object["asgi.scope.state"] = describe(environ.scope?.state)
        object["asgi.scope.extensions"] = describe(environ.scope?.extensions)
        object["body"] = String(decoding: try environ.input.read(), as: UTF8.self)
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        _ = try startResponse("200 OK", [("Content-Type", "application/json")], nil)
        return [Array(json)]
    }

    /// The ASGI application; `file` is what `/file` sends.
    public static func asgi(file: String, observations: Observations) -> ASGIApp {
        ASGIApp { scope, receive, send in
            let http: HTTPScope
            switch scope {
            case .lifespan(let lifespan):
                while true {
                    switch try await receive() {
                    case .lifespanStartup:
                        lifespan.state["greeting"] = greeting
                        try await send(.lifespanStartupComplete)
                    case .lifespanShutdown:
                        try await send(.lifespanShutdownComplete)
                        return
                    default:
                        continue
                    }
                }
            case .websocket:
                throw ASGIProtocolError.unsupportedScope(scope.type)
            case .http(let request):
                http = request
            }
            switch String(http.path.dropFirst(http.rootPath.count)) {
            case "/hello":
                try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain"), ("content-length", "5")]))
                try await send(.httpResponseBody(body: Array("hello".utf8)))
            case "/fail-before":
                throw Failure()
            case "/fail-after":
                try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
                try await send(.httpResponseBody(body: Array("partial".utf8), moreBody: true))
                throw Failure()
            case "/file":
                try await send(.httpResponseStart(status: 200, headers: [("content-type", "application/octet-stream")]))
                try await send(.httpResponsePathsend(path: file))
            case "/stream":
                try await stream(receive: receive, send: send, observations: observations)
            case "/bad-length":
                try await send(.httpResponseStart(status: 200, headers: [("content-length", "+5")]))
                try await send(.httpResponseBody(body: Array("hello".utf8)))
            case "/no-content":
                try await send(.httpResponseStart(status: 204))
                try await send(.httpResponseBody(body: Array("x".utf8)))
            default:
                var body: [UInt8] = []
                while case .httpRequest(let chunk, let more) = try await receive() {
                    body += chunk
                    if !more { break }
                }
                var object = describe(http)
                object["body"] = String(decoding: body, as: UTF8.self)
                let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                try await send(.httpResponseStart(status: 200, headers: [("content-type", "application/json")]))
                try await send(.httpResponseBody(body: Array(json)))
            }
        }
    }

    /// Streams ticks while a watcher waits in `receive()` for the client to go (Starlette's
    /// pattern); stops when the watcher sees `http.disconnect` or a send fails.
    static func stream(receive: @escaping Receive, send: @escaping Send, observations: Observations) async throws {
        while case .httpRequest(_, let more) = try await receive(), more {}
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
        let gone = Observations()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                if case .httpDisconnect = try await receive() {
                    gone.add("gone")
                    observations.add("asgi saw http.disconnect")
                }
            }
            var ticks = 0
            while gone.all.isEmpty && ticks < 3000 {
                ticks += 1
                do {
                    try await send(.httpResponseBody(body: Array("tick \(ticks)\n".utf8), moreBody: true))
                } catch is ClientDisconnectedError {
                    observations.add("asgi send threw ClientDisconnectedError")
                    break
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            group.cancelAll()
        }
    }

    /// Every field of an HTTP scope, as strings.
    static func describe(_ http: HTTPScope) -> [String: String] {
        [
            "type": "http",
            "asgi.version": http.asgi.version,
            "asgi.spec_version": http.asgi.specVersion,
            "http_version": http.httpVersion,
            "method": http.method,
            "scheme": http.scheme,
            "path": http.path,
            "raw_path": http.rawPath.map { String(latin1: $0) } ?? "nil",
            "query_string": String(latin1: http.queryString),
            "root_path": http.rootPath,
            "headers": http.headers.map { "\($0.nameString): \($0.valueString)" }.joined(separator: "\n"),
            "client": http.client.map { "\($0.host):\($0.port.map(String.init) ?? "nil")" } ?? "nil",
            "server": http.server.map { "\($0.host):\($0.port.map(String.init) ?? "nil")" } ?? "nil",
            "state": describe(http.state),
            "extensions": describe(http.extensions),
        ]
    }

    static func describe(_ state: [String: ASGIValue]?) -> String {
        guard let state else { return "nil" }
        return "{" + state.keys.sorted().map { "\($0)=\(state[$0].map { "\($0)" } ?? "")" }.joined(separator: ", ") + "}"
    }

    static func describe(_ extensions: [String: [String: ASGIValue]]?) -> String {
        guard let extensions else { return "nil" }
        return extensions.keys.sorted().joined(separator: ",")
    }
}
