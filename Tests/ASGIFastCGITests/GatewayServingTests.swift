import Foundation
import Glibc
import TestSupport
import Testing

/// The runner's serving options end to end: the `GatewayProbe` application run through its
/// command line, over HTTP (curl) and over FastCGI behind a real nginx.
@Suite("Gateway runner: serving options end to end")
struct GatewayServingTests {
    /// A request held past `--slow-log` is logged while it still runs (it is released only after
    /// the line is seen), over HTTP and over FastCGI; the next request is served normally.
    @Test func slowRequestsAreLoggedWhileRunning() async throws {
        try await withTestDirectory("gw-slow") { directory in
            let port = try freeLoopbackPort()
            let socket = directory.file("probe.sock")
            let probe = try await GatewayProbeProcess.start(
                ["--http", "127.0.0.1:\(port)", "--fastcgi", "unix:\(socket)", "--slow-log", "0.2", "--threads", "4"],
                in: directory,
                ready: ["http:\(port)", "unix:\(socket)"]
            )
            try await onFailure({ await probe.stop() }) {
                let nginx = try await Nginx.start(
                    in: directory,
                    backend: "unix:\(socket)",
                    locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }"
                )
                try await onFailure({ await nginx.stop() }) {
                    for (name, url) in [("overHTTP", "http://127.0.0.1:\(port)"), ("overFastCGI", nginx.url)] {
                        async let held = curl("\(url)/hold?name=\(name)", in: directory)
                        try await probe.waitUntilArrived(name)
                        try await probe.waitForLog("Slow request: GET /hold?name=\(name) has run for ")
                        probe.release(name)
                        #expect(try await held.text == "released")
                        #expect(try await curl("\(url)/hello", in: directory).text == "hello")
                    }
                    #expect(probe.log.components(separatedBy: "Slow request: GET /hold?name=overHTTP").count == 2, "logged once")
                    await nginx.stop()
                }
                #expect(try await probe.terminate() == 0)
            }
        }
    }

    /// `--root-path`: over HTTP the application sees the prefix in front of every path (uvicorn's
    /// semantics: the proxy stripped it); over FastCGI nginx passes the whole path and the prefix
    /// becomes SCRIPT_NAME.
    @Test func rootPathOnBothServers() async throws {
        try await withTestDirectory("gw-root") { directory in
            let port = try freeLoopbackPort()
            let socket = directory.file("probe.sock")
            let probe = try await GatewayProbeProcess.start(
                ["--http", "127.0.0.1:\(port)", "--fastcgi", "unix:\(socket)", "--root-path", "/legacy"],
                in: directory,
                ready: ["http:\(port)", "unix:\(socket)"]
            )
            try await onFailure({ await probe.stop() }) {
                let viaHTTP = environLines(try await curl("http://127.0.0.1:\(port)/environ", in: directory))
                #expect(viaHTTP["SCRIPT_NAME"] == "/legacy")
                #expect(viaHTTP["PATH_INFO"] == "/environ")
                let nginx = try await Nginx.start(
                    in: directory,
                    backend: "unix:\(socket)",
                    locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }"
                )
                try await onFailure({ await nginx.stop() }) {
                    let viaFastCGI = environLines(try await curl("\(nginx.url)/legacy/environ", in: directory))
                    #expect(viaFastCGI["SCRIPT_NAME"] == "/legacy")
                    #expect(viaFastCGI["PATH_INFO"] == "/environ")
                    // A path that only starts with the same letters is not under the mount point.
                    let outside = environLines(try await curl("\(nginx.url)/legacyx/environ", in: directory))
                    #expect(outside["SCRIPT_NAME"] == "")
                    #expect(outside["PATH_INFO"] == "/legacyx/environ")
                    await nginx.stop()
                }
                #expect(try await probe.terminate() == 0)
            }
        }
    }

    /// `--limit-concurrency 1` over HTTP: while one request runs, the next gets 503 at once, also
    /// after the first one's client vanished (its handler still runs); once it returns, requests
    /// are served again.
    @Test func limitConcurrencyAnswers503OverHTTP() async throws {
        try await withTestDirectory("gw-limit-http") { directory in
            let port = try freeLoopbackPort()
            let probe = try await GatewayProbeProcess.start(
                ["--http", "127.0.0.1:\(port)", "--limit-concurrency", "1", "--threads", "4"],
                in: directory,
                ready: ["http:\(port)"]
            )
            try await onFailure({ await probe.stop() }) {
                let vanishing = try ChildProcess(
                    curlExecutable,
                    ["-sS", "http://127.0.0.1:\(port)/hold?name=first"],
                    stdoutPath: directory.file("vanishing.out"),
                    stderrPath: directory.file("vanishing.err")
                )
                try await probe.waitUntilArrived("first")
                #expect(try await curl("http://127.0.0.1:\(port)/hello", in: directory).status == 503)
                vanishing.signal(SIGKILL)
                _ = try await vanishing.wait()
                #expect(try await curl("http://127.0.0.1:\(port)/hello", in: directory).status == 503)
                probe.release("first")
                try await eventually("the slot is free again") {
                    try await curl("http://127.0.0.1:\(port)/hello", in: directory).status == 200
                }
                #expect(try await curl("http://127.0.0.1:\(port)/max-in-flight", in: directory).text == "1")
                #expect(try await probe.terminate() == 0)
            }
        }
    }

    /// `--workers 2 --threads 1` over HTTP: while one worker's only blocking thread is held, new
    /// connections go to the other worker. The held worker may take one more connection (its
    /// accept was already waiting when the request arrived); without the pause it would take every
    /// other one, and those requests would wait for the held one.
    @Test func busyWorkerLeavesNewConnectionsToTheOther() async throws {
        try await withTestDirectory("gw-busy-worker") { directory in
            let port = try freeLoopbackPort()
            let probe = try await GatewayProbeProcess.start(
                ["--http", "127.0.0.1:\(port)", "--workers", "2", "--threads", "1"],
                in: directory,
                ready: ["http:\(port)"]
            )
            try await onFailure({ await probe.stop() }) {
                async let held = curl("http://127.0.0.1:\(port)/hold?name=held", in: directory)
                try await probe.waitUntilArrived("held")
                let answered = Shared(0)
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<10 {
                        group.addTask {
                            let result = try await curl("http://127.0.0.1:\(port)/hello?\(index)", in: directory)
                            answered.update { $0 += 1 }
                            return result.status
                        }
                    }
                    try await eventually("nine of the ten answered while a worker is held", timeout: .seconds(30)) {
                        answered.current >= 9
                    }
                    probe.release("held")
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses == Array(repeating: 200, count: 10))
                let heldResult = try await held
                #expect(heldResult.status == 200 && heldResult.text == "released")
                #expect(try await probe.terminate() == 0)
            }
        }
    }

    /// `--limit-concurrency 2 --threads 8` over FastCGI: four requests held at once reach the
    /// application two at a time (the others wait in the backlog), and all four are answered.
    @Test func limitConcurrencyCapsFastCGIWorkers() async throws {
        try await withTestDirectory("gw-limit-fcgi") { directory in
            let socket = directory.file("probe.sock")
            let probe = try await GatewayProbeProcess.start(
                ["--fastcgi", "unix:\(socket)", "--limit-concurrency", "2", "--threads", "8"],
                in: directory,
                ready: ["unix:\(socket)"]
            )
            try await onFailure({ await probe.stop() }) {
                // A supervised worker serves the socket its supervisor bound (inherited, on fd 0),
                // and its log says which.
                try await probe.waitForLog("FastCGI server listening on unix:\(socket) (inherited) with 2 worker threads.")
                let nginx = try await Nginx.start(
                    in: directory,
                    backend: "unix:\(socket)",
                    locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }"
                )
                try await onFailure({ await nginx.stop() }) {
                    let names = ["a", "b", "c", "d"]
                    try await withThrowingTaskGroup(of: String.self) { group in
                        for name in names {
                            group.addTask { try await curl("\(nginx.url)/hold?name=\(name)", in: directory).text }
                        }
                        try await eventually("two requests in the application") { names.filter(probe.hasArrived).count == 2 }
                        for name in names { probe.release(name) }
                        var answers: [String] = []
                        for try await answer in group { answers.append(answer) }
                        #expect(answers == Array(repeating: "released", count: 4))
                    }
                    #expect(try await curl("\(nginx.url)/max-in-flight", in: directory).text == "2")
                    await nginx.stop()
                }
                #expect(try await probe.terminate() == 0)
            }
        }
    }

    /// `--proxy-headers` behind a real nginx `proxy_pass`: the application sees the visitor's
    /// address and scheme. A visitor's own X-Forwarded-For is not believed past the trusted hop;
    /// a peer outside `--forwarded-allow-ips` is not believed at all; garbage changes nothing and
    /// the next request is served.
    @Test func proxyHeadersBehindNginx() async throws {
        try await withTestDirectory("gw-proxy") { directory in
            let port = try freeLoopbackPort()
            let probe = try await GatewayProbeProcess.start(
                ["--http", "127.0.0.1:\(port)", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"],
                in: directory,
                ready: ["http:\(port)"]
            )
            try await onFailure({ await probe.stop() }) {
                let nginx = try await Nginx.start(
                    in: directory,
                    backend: "127.0.0.1:\(port)",
                    locations: """
                        location / {
                          proxy_pass http://127.0.0.1:\(port);
                          proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                          proxy_set_header X-Forwarded-Proto https;
                        }
                        """
                )
                try await onFailure({ await nginx.stop() }) {
                    // The visitor connects from 127.0.0.2 (loopback, but not a trusted proxy) and
                    // claims to be 6.6.6.6: nginx appends 127.0.0.2, the right-most untrusted hop.
                    let visitor = environLines(
                        try await curl("\(nginx.url)/environ", ["--interface", "127.0.0.2", "-H", "X-Forwarded-For: 6.6.6.6"], in: directory)
                    )
                    #expect(visitor["REMOTE_ADDR"] == "127.0.0.2")
                    #expect(visitor["url_scheme"] == "https")
                    #expect(visitor["HTTPS"] == "on")
                    await nginx.stop()
                }
                // Straight to the server from the trusted address: believed.
                let direct = environLines(
                    try await curl(
                        "http://127.0.0.1:\(port)/environ",
                        ["-H", "X-Forwarded-For: 198.51.100.7, 127.0.0.1", "-H", "X-Forwarded-Proto: https"],
                        in: directory
                    )
                )
                #expect(direct["REMOTE_ADDR"] == "198.51.100.7")
                #expect(direct["url_scheme"] == "https")
                // From an address that is not trusted: the headers are ignored.
                let spoofed = environLines(
                    try await curl(
                        "http://127.0.0.1:\(port)/environ",
                        ["--interface", "127.0.0.3", "-H", "X-Forwarded-For: 10.0.0.1", "-H", "X-Forwarded-Proto: https"],
                        in: directory
                    )
                )
                #expect(spoofed["REMOTE_ADDR"] == "127.0.0.3")
                #expect(spoofed["url_scheme"] == "http")
                #expect(spoofed["HTTPS"] == "")
                // Garbage from the trusted address changes nothing.
                for garbage in ["unknown", "<script>alert(1)</script>", "1.2.3.4:99999", ",,,", String(repeating: "9", count: 8000)] {
                    let result = environLines(
                        try await curl(
                            "http://127.0.0.1:\(port)/environ",
                            ["-H", "X-Forwarded-For: \(garbage)", "-H", "X-Forwarded-Proto: gopher"],
                            in: directory
                        )
                    )
                    #expect(result["REMOTE_ADDR"] == "127.0.0.1", "\(garbage.prefix(40))")
                    #expect(result["url_scheme"] == "http")
                }
                #expect(try await curl("http://127.0.0.1:\(port)/hello", in: directory).text == "hello")
                #expect(try await probe.terminate() == 0)
            }
        }
    }

    /// `--no-access-log` silences the per-request line on both servers; by default both log it.
    @Test(arguments: [true, false])
    func accessLog(enabled: Bool) async throws {
        try await withTestDirectory("gw-access") { directory in
            let port = try freeLoopbackPort()
            let socket = directory.file("probe.sock")
            let probe = try await GatewayProbeProcess.start(
                ["--http", "127.0.0.1:\(port)", "--fastcgi", "unix:\(socket)", enabled ? "--access-log" : "--no-access-log"],
                in: directory,
                ready: ["http:\(port)", "unix:\(socket)"]
            )
            try await onFailure({ await probe.stop() }) {
                _ = try await curl("http://127.0.0.1:\(port)/hello?via=http", in: directory)
                let nginx = try await Nginx.start(
                    in: directory,
                    backend: "unix:\(socket)",
                    locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }"
                )
                _ = try await onFailure({ await nginx.stop() }) { try await curl("\(nginx.url)/hello?via=fastcgi", in: directory) }
                await nginx.stop()
                #expect(try await probe.terminate() == 0)
                let log = probe.log
                #expect(log.contains("\"GET /hello?via=http HTTP/1.1\" 200") == enabled, "\(log)")
                #expect(log.contains("\"GET /hello?via=fastcgi HTTP/1.1\" 200") == enabled, "\(log)")
                #expect(log.contains("ASGI HTTP server listening"))
            }
        }
    }

    /// A host program that bootstrapped logging before calling `Gateway.run` (swift-log traps on
    /// a second bootstrap) is served, and stops cleanly; with `Gateway.run(_:logger:)` the
    /// runner's lines go through the host's handler.
    @Test(arguments: ["bootstrap", "host"])
    func hostThatBootstrappedLogging(mode: String) async throws {
        try await withTestDirectory("gw-logging") { directory in
            let port = try freeLoopbackPort()
            let probe = try await GatewayProbeProcess.start(["--http", "127.0.0.1:\(port)"], in: directory, logging: mode, ready: ["http:\(port)"])
            try await onFailure({ await probe.stop() }) { () async throws -> Void in
                #expect(try await curl("http://127.0.0.1:\(port)/hello", in: directory).text == "hello")
                #expect(try await probe.terminate() == 0)
                if mode == "host" {
                    #expect(probe.log.contains("HOST-HANDLER info [asgi.http] ASGI HTTP server listening"), "\(probe.log)")
                    #expect(probe.log.contains("HOST-HANDLER info [asgi.http] 127.0.0.1:"), "\(probe.log)")
                } else {
                    #expect(probe.log.contains("ASGI HTTP server listening"), "\(probe.log)")
                }
            }
        }
    }
}
