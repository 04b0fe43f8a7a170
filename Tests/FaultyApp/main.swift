// The misbehaving application the supervisor's tests serve through the Gateway runner (and
// bench/supervisor.sh serves as its hello). Every option is the runner's; the kind of application
// comes from the environment: FAULTY_APP_KIND=wsgi (default: a blocking, WSGI-style handler) or
// asgi (an async ASGI application).
//
//   GET /          "hello"                  GET /pid        this worker's pid
//   GET /trap      force-unwraps nil        GET /index      indexes past an array's end
//   GET /hang      never returns            GET /leak?mib=N allocates N MiB (default 32), touches
//   GET /slow?ms=N answers after N ms                          and never frees them
//   GET /wait?file=PATH answers once PATH exists (a gate the test opens; at most 120 s)
import ASGI
import Gateway

#if canImport(Glibc)
import Glibc
#endif

/// Allocates `mebibytes` MiB, touches every page (resident, not just reserved) and drops the
/// pointer: the memory is never freed.
func leak(mebibytes: Int) {
    let size = mebibytes << 20
    guard let memory = malloc(size) else { return }
    memset(memory, 0x5A, size)
}

/// The value of `name` in `query` (no percent-decoding: the tests pass plain paths).
func parameter(_ query: String, _ name: String) -> String? {
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2, parts[0] == name { return String(parts[1]) }
    }
    return nil
}

/// Whether the gate file of a `/wait` request exists yet.
func gateIsOpen(_ query: String) -> Bool {
    guard let path = parameter(query, "file") else { return true }
    return access(path, F_OK) == 0
}

/// How long a `/wait` request waits for its gate at most.
let gateLimit = ContinuousClock.Duration.seconds(120)

func number(_ query: String, _ name: String) -> Int? {
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2, parts[0] == name { return Int(parts[1]) }
    }
    return nil
}

/// What a route answers, or does instead of answering.
func route(_ path: String, query: String) -> (status: Int, body: String)? {
    switch path {
    case "/", "/hello":
        return (200, "hello")
    case "/pid":
        return (200, String(getpid()))
    case "/trap":
        let missing: Int? = number(query, "value")
        return (200, String(missing!))
    case "/index":
        let empty: [Int] = Array(repeating: 1, count: number(query, "count") ?? 0)
        return (200, String(empty[number(query, "at") ?? 3]))
    case "/leak":
        leak(mebibytes: number(query, "mib") ?? 32)
        return (200, "leaked")
    default:
        return nil
    }
}

let wsgi = WSGIApp { environ, startResponse in
    let path = environ["PATH_INFO"] ?? "/"
    let query = environ["QUERY_STRING"] ?? ""
    switch path {
    case "/hang":
        while true { sleep(3600) }
    case "/slow":
        usleep(UInt32(max(0, number(query, "ms") ?? 100)) * 1000)
        _ = try startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")], nil)
        return [Array("slow".utf8)]
    case "/wait":
        let deadline = ContinuousClock.now + gateLimit
        while !gateIsOpen(query), ContinuousClock.now < deadline { usleep(10_000) }
        _ = try startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")], nil)
        return [Array("open".utf8)]
    default:
        let (status, text) = route(path, query: query) ?? (404, "not found")
        let body = Array(text.utf8)
        _ = try startResponse(
            status == 200 ? "200 OK" : "404 Not Found",
            [
                ("Content-Type", "text/plain"), ("Content-Length", String(body.count)), ("X-Worker-PID", String(getpid())),
            ],
            nil
        )
        return [body]
    }
}

let asgi = ASGIApp { scope, receive, send in
    guard case .http(let http) = scope else { return }
    let query = String(decoding: http.queryString, as: UTF8.self)
    let status: Int
    let body: [UInt8]
    switch http.path {
    case "/hang":
        // Suspended for good, deaf to cancellation: what a lost continuation does.
        await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
        return
    case "/slow":
        try await Task.sleep(for: .milliseconds(number(query, "ms") ?? 100))
        (status, body) = (200, Array("slow".utf8))
    case "/wait":
        let deadline = ContinuousClock.now + gateLimit
        while !gateIsOpen(query), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        (status, body) = (200, Array("open".utf8))
    default:
        let (code, text) = route(http.path, query: query) ?? (404, "not found")
        (status, body) = (code, Array(text.utf8))
    }
    try await send(
        .httpResponseStart(
            status: status,
            headers: [
                ("content-type", "text/plain"), ("content-length", String(body.count)), ("x-worker-pid", String(getpid())),
            ]
        )
    )
    try await send(.httpResponseBody(body: body))
}

if getenv("FAULTY_APP_KIND").map({ String(cString: $0) }) == "asgi" {
    try await Gateway.run(asgi)
} else {
    try await Gateway.run(wsgi)
}
