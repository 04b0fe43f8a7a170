// WSGIToASGI against a plain ASGI app doing the same work, in one run.
//
// Large bodies: every sample moves 256 MiB (4,096 chunks of 64 KiB, a fresh buffer per chunk as a
// server's reads produce) in one direction. Compare each WSGIToASGI row with the plain ASGI row of
// the same direction: the goals are ≤ 1.2× for the upload and ≤ 1.5× for the streamed
// response.
//
// Hello requests: 1,000 GET requests with a browser's headers, one after another, answered with
// "hello" — the per-request cost of the adapter (environ, the hop to a pool thread and back).

import ASGI
import Benchmark
import Synchronization

let chunkSize = 64 * 1024
let chunkCount = 4_096

/// Hands out `chunkCount` fresh chunks as `http.request` events.
final class UploadSource: Sendable {
    private let sent = Mutex(0)
    func next() -> ReceiveEvent {
        let index = sent.withLock { value in
            defer { value += 1 }
            return value
        }
        return .httpRequest(body: Array(repeating: 0x61, count: chunkSize), moreBody: index < chunkCount - 1)
    }
}

/// Counts response body bytes.
final class ByteCounter: Sendable {
    private let total = Mutex(0)
    func add(_ count: Int) { total.withLock { $0 += count } }
    var value: Int { total.withLock { $0 } }
}

/// A plain ASGI app that reads the whole request body, then answers.
let plainUpload = ASGIApp { _, receive, send in
    var total = 0
    while case .httpRequest(let body, let more) = try await receive() {
        total += body.count
        if !more { break }
    }
    precondition(total == chunkSize * chunkCount)
    try await send(.httpResponseStart(status: 200))
    try await send(.httpResponseBody())
}

/// The same as a WSGI-style app behind WSGIToASGI.
let wsgiUpload = WSGIToASGI(
    WSGIApp { environ, start in
        var total = 0
        while true {
            let piece = try environ.input.read(256 * 1024)
            if piece.isEmpty { break }
            total += piece.count
        }
        precondition(total == chunkSize * chunkCount)
        _ = try start("200 OK", [], nil)
        return [[UInt8]]()
    },
    maxRequestBodyBytes: nil
)

/// A plain ASGI app that streams 256 MiB.
let plainDownload = ASGIApp { _, _, send in
    try await send(.httpResponseStart(status: 200))
    for index in 0..<chunkCount {
        try await send(.httpResponseBody(body: Array(repeating: 0x62, count: chunkSize), moreBody: index < chunkCount - 1))
    }
}

/// The same as a WSGI-style app behind WSGIToASGI.
let wsgiDownload = WSGIToASGI(
    WSGIApp { _, start in
        _ = try start("200 OK", [], nil)
        var remaining = chunkCount
        return WSGIClosureBody(next: {
            guard remaining > 0 else { return nil }
            remaining -= 1
            return Array(repeating: 0x62, count: chunkSize)
        })
    }
)

/// The benchmark's hello, plain.
let plainHello = ASGIApp { _, _, send in
    try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain; charset=utf-8"), ("content-length", "5")]))
    try await send(.httpResponseBody(body: Array("hello".utf8)))
}

/// The same hello from a WSGI-style app behind WSGIToASGI.
let wsgiHello = WSGIToASGI(
    WSGIApp { _, start in
        _ = try start("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "5")], nil)
        return [Array("hello".utf8)]
    }
)

let helloScope = Scope.http(
    HTTPScope(
        method: "GET",
        path: "/hello",
        queryString: Array("a=1&b=two".utf8),
        headers: [
            ("host", "127.0.0.1:8080"),
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("accept-language", "en-GB,en;q=0.5"),
            ("accept-encoding", "gzip, deflate, br"),
            ("connection", "keep-alive"),
            ("cookie", "session=0123456789abcdef; theme=dark"),
            ("upgrade-insecure-requests", "1"),
        ],
        client: ASGIAddress(host: "127.0.0.1", port: 50000),
        server: ASGIAddress(host: "127.0.0.1", port: 8080)
    )
)

let helloRequests = 1_000

func hellos(through app: any ASGIApplication) async throws {
    let counter = ByteCounter()
    for _ in 0..<helloRequests {
        try await app(
            scope: helloScope,
            receive: { .httpRequest() },
            send: { event in
                if case .httpResponseBody(let body, _) = event { counter.add(body.count) }
            }
        )
    }
    precondition(counter.value == 5 * helloRequests)
}

func upload(through app: any ASGIApplication) async throws {
    let source = UploadSource()
    try await app(scope: .http(HTTPScope(method: "POST", path: "/upload")), receive: { source.next() }, send: { _ in })
}

func download(through app: any ASGIApplication) async throws {
    let counter = ByteCounter()
    try await app(
        scope: .http(HTTPScope(method: "GET", path: "/download")),
        receive: { .httpRequest() },
        send: { event in
            if case .httpResponseBody(let body, _) = event { counter.add(body.count) }
        }
    )
    precondition(counter.value == chunkSize * chunkCount)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        maxDuration: .seconds(10),
        maxIterations: 15,
        // `make benchmark-check` compares the p90 with Thresholds/ (see README.md): gross
        // regressions only. Mallocs depend on how often a transfer waits for the other side (17%
        // apart between two runs here); a shared 2-core machine moved a wall clock 4.5x between runs.
        thresholds: [
            .wallClock: .init(relative: [.p90: 1000]),
            .mallocCountTotal: .init(relative: [.p90: 30]),
        ]
    )

    Benchmark("upload 256 MiB: plain ASGI app") { _ in try await upload(through: plainUpload) }
    Benchmark("upload 256 MiB: WSGIToASGI") { _ in try await upload(through: wsgiUpload) }
    Benchmark("download 256 MiB: plain ASGI app") { _ in try await download(through: plainDownload) }
    Benchmark("download 256 MiB: WSGIToASGI") { _ in try await download(through: wsgiDownload) }
    Benchmark("1,000 hello requests: plain ASGI app") { _ in try await hellos(through: plainHello) }
    Benchmark("1,000 hello requests: WSGIToASGI") { _ in try await hellos(through: wsgiHello) }
}
