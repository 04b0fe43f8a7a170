import Foundation
import Glibc
import TestSupport
import Testing

/// A load client: `threads` threads GET `/hello` through nginx (a new connection each), until
/// the stop file exists, writing how many requests have finished to the progress file; at the
/// end it prints the counts and the first failures as JSON.
private let loadClient = #"""
    import http.client, json, os, sys, threading, time
    port, stop, progress, threads = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}
    errors = []
    def worker():
        while not os.path.exists(stop):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", "/hello", headers={"Connection": "close"})
                response = connection.getresponse()
                body = response.read()
                connection.close()
                good, detail = response.status == 200 and body == b"hello", f"{response.status} {body[:80]!r}"
            except Exception as error:
                good, detail = False, repr(error)
            with lock:
                if good:
                    counts["ok"] += 1
                else:
                    counts["failed"] += 1
                    if len(errors) < 20:
                        errors.append(detail)
    def reporter():
        while not os.path.exists(stop):
            with lock:
                done = counts["ok"] + counts["failed"]
            with open(progress + ".tmp", "w") as file:
                file.write(str(done))
            os.replace(progress + ".tmp", progress)
            time.sleep(0.02)
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers + [threading.Thread(target=reporter)]:
        thread.start()
    for thread in workers:
        thread.join()
    print(json.dumps({"ok": counts["ok"], "failed": counts["failed"], "errors": errors}))
    """#

/// Scale-out as deploy/nginx/upstream-cluster.conf describes it, on loopback: that file's upstream
/// and retry settings, its servers replaced by two runner processes (one on a unix socket, one on
/// TCP), and one of them killed while a client keeps GETting through nginx.
@Suite("Scale-out: nginx balancing two runners")
struct ScaleOutTests {
    @Test func killingOneBackendUnderLoadFailsNoGET() async throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw TestFailure("python3 is not installed at \(python): run scripts/bootstrap.sh")
        }
        try await withTestDirectory("scale-out") { directory in
            let socket = directory.file("a.sock")
            let port = try freeLoopbackPort()
            let cluster = try String(contentsOfFile: repositoryRoot + "/deploy/nginx/upstream-cluster.conf", encoding: .utf8)
            let local = try Self.replacing(#"server unix:/run/swift-asgi/app.sock"#, with: "server unix:\(socket)", in: cluster)
            let remote = try Self.replacing(#"server 10\.0\.0\.11:9000"#, with: "server 127.0.0.1:\(port)", in: local)
            let upstream = try Self.replacing(#"\n\s*server 10\.0\.0\.1[23]:9000[^;]*;"#, with: "", in: remote)
            #expect(upstream.contains("fastcgi_next_upstream error timeout"), "the retry rule the failover depends on")

            let a = try await GatewayProbeProcess.start(
                ["--fastcgi", "unix:\(socket)", "--threads", "4"],
                in: directory,
                name: "a",
                ready: ["unix:\(socket)"]
            )
            let b = try await onFailure({ await a.stop() }) {
                try await GatewayProbeProcess.start(
                    ["--fastcgi", "127.0.0.1:\(port)", "--threads", "4"],
                    in: directory,
                    name: "b",
                    ready: ["http:\(port)"]
                )
            }
            try await onFailure({
                await a.stop()
                await b.stop()
            }) {
                let nginx = try await Nginx.start(
                    in: directory,
                    backend: "unix:\(socket)",
                    locations: """
                        location / { \(fastcgiParams) fastcgi_pass swift_asgi_app; fastcgi_keep_conn on; }
                        """,
                    http: upstream
                )
                try await onFailure({ await nginx.stop() }) {
                    try loadClient.write(toFile: directory.file("load.py"), atomically: true, encoding: .utf8)
                    let progress = directory.file("progress")
                    let stop = directory.file("stop")
                    let client = try ChildProcess(
                        python,
                        [directory.file("load.py"), String(nginx.port), stop, progress, "8"],
                        stdoutPath: directory.file("load.out"),
                        stderrPath: directory.file("load.err")
                    )
                    func done() throws -> Int {
                        if let status = client.poll() { throw TestFailure("the load client exited with \(status): \(client.standardError)") }
                        return Int((try? String(contentsOfFile: progress, encoding: .utf8)) ?? "") ?? 0
                    }
                    try await onFailure({
                        _ = FileManager.default.createFile(atPath: stop, contents: nil)
                        await client.stop()
                    }) {
                        try await eventually("both backends serving under load", timeout: .seconds(60)) {
                            try done() >= 300 && a.log.contains("\"GET /hello HTTP/1.1\" 200") && b.log.contains("\"GET /hello HTTP/1.1\" 200")
                        }
                        a.process.signal(SIGKILL)
                        #expect(try await a.process.wait() == 128 + SIGKILL)
                        let atKill = try done()
                        try await eventually("500 more requests after the kill", timeout: .seconds(120)) { try done() >= atKill + 500 }
                        _ = FileManager.default.createFile(atPath: stop, contents: nil)
                        #expect(try await client.wait(timeout: .seconds(60)) == 0)
                    }
                    let result = (try JSONSerialization.jsonObject(with: Data(client.standardOutput.utf8))) as? [String: Any] ?? [:]
                    #expect(result["failed"] as? Int == 0, "\(result["errors"] ?? "")")
                    #expect((result["ok"] as? Int ?? 0) >= 800, "\(result)")
                    // nginx did meet the dead backend, and went on to the other.
                    #expect(nginx.errorLog.contains("a.sock"), "\(nginx.errorLog.suffix(800))")
                    await nginx.stop()
                }
                #expect(try await b.terminate() == 0)
            }
        }
    }

    /// `text` with every match of `pattern` replaced; fails if there is none, so a change to the
    /// deploy file shows here instead of silently testing something else.
    static func replacing(_ pattern: String, with replacement: String, in text: String) throws -> String {
        let replaced = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        guard replaced != text else { throw TestFailure("deploy/nginx/upstream-cluster.conf no longer has \(pattern)") }
        return replaced
    }
}
