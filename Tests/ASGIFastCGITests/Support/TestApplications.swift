import ASGI
import Foundation
import Glibc

/// The name of the calling thread (`/proc/thread-self/comm`): worker threads are `fcgi-worker-N`.
func currentThreadName() -> String {
    ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?")
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

enum TestApps {
    /// A WSGI-style application that answers with its environ (and the body length) as JSON.
    static let echoWSGI = WSGIApp { environ, startResponse in
        let input = try environ.input.read()
        var object: [String: Any] = environ.variables
        object["wsgi.url_scheme"] = environ.urlScheme
        object["body.length"] = input.count
        object["thread"] = currentThreadName()
        let body = jsonBody(object)
        _ = try startResponse(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("X-Echo", "wsgi"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
            ],
            nil
        )
        return [body]
    }

    /// An ASGI application that answers with its scope (and the body length) as JSON.
    static let echoASGI = ASGIApp { scope, receive, send in
        guard case .http(let http) = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
        let startThread = currentThreadName()
        var length = 0
        loop: while true {
            switch try await receive() {
            case .httpRequest(let body, let moreBody):
                length += body.count
                if !moreBody { break loop }
            default:
                break loop
            }
        }
        var object: [String: Any] = [
            "method": http.method,
            "path": http.path,
            "root_path": http.rootPath,
            "raw_path": String(decoding: http.rawPath ?? [], as: UTF8.self),
            "query_string": String(decoding: http.queryString, as: UTF8.self),
            "scheme": http.scheme,
            "http_version": http.httpVersion,
            "client": [http.client?.host ?? "", http.client?.port ?? -1] as [Any],
            "server": [http.server?.host ?? "", http.server?.port ?? -1] as [Any],
            "headers": http.headers.map { [$0.nameString, $0.valueString] },
            "body.length": length,
            "thread.start": startThread,
            "thread.after_receive": currentThreadName(),
        ]
        if let params = http.extensions?["fastcgi"]?["params"] as? [String: String] {
            object["fastcgi.params"] = params
        }
        let body = jsonBody(object)
        try await send(
            .httpResponseStart(
                status: 200,
                headers: [
                    ("content-type", "application/json"),
                    ("x-echo", "asgi"),
                    ("set-cookie", "a=1"),
                    ("set-cookie", "b=2"),
                ]
            )
        )
        try await send(.httpResponseBody(body: body))
    }

    /// A WSGI-style application that counts the request body as it reads it.
    static let countingWSGI = WSGIApp { environ, startResponse in
        var total = 0
        var reads = 0
        var largest = 0
        var checksum: UInt32 = 0
        while true {
            let chunk = try environ.input.read(64 * 1024)
            if chunk.isEmpty { break }
            reads += 1
            total += chunk.count
            largest = max(largest, chunk.count)
            for byte in chunk { checksum = checksum &* 31 &+ UInt32(byte) }
        }
        let body = jsonBody(["bytes": total, "reads": reads, "largest_read": largest, "checksum": Int(checksum)])
        _ = try startResponse("200 OK", [("Content-Type", "application/json")], nil)
        return [body]
    }

    /// An ASGI application that counts the request body's `http.request` events.
    static let countingASGI = ASGIApp { _, receive, send in
        var total = 0
        var events = 0
        var checksum: UInt32 = 0
        loop: while true {
            switch try await receive() {
            case .httpRequest(let body, let moreBody):
                events += 1
                total += body.count
                for byte in body { checksum = checksum &* 31 &+ UInt32(byte) }
                if !moreBody { break loop }
            default:
                break loop
            }
        }
        let body = jsonBody(["bytes": total, "reads": events, "checksum": Int(checksum)])
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "application/json")]))
        try await send(.httpResponseBody(body: body))
    }
}

/// The checksum the counting applications compute.
func testChecksum(_ bytes: [UInt8]) -> Int {
    var checksum: UInt32 = 0
    for byte in bytes { checksum = checksum &* 31 &+ UInt32(byte) }
    return Int(checksum)
}
