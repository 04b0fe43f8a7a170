import ASGI
import ASGIHTTPServer
import AsyncBridge
import Foundation
import Synchronization
import TestSupport
import Testing

/// Clients that send a request body slowly, or stop: they must not hold the blocking threads of a
/// WSGI-style application, and a stalled upload is answered 408.
@Suite(.timeLimit(.minutes(3)))
struct SlowUploadTests {
    /// A WSGI-style application on a pool of `threads` threads that reads its whole body, behind a
    /// middleware that reports each `/slow` request whose first body bytes arrived.
    private static func app(threads: Int, arrived: Reports<String>) -> ASGIApp {
        let pool = BlockingThreadPool(threads: threads, name: "slow-upload-test")
        let wsgi = WSGIToASGI(
            WSGIApp { environ, startResponse in
                let body = try environ.input.read()
                _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
                return [Array("read \(body.count) \(environ["PATH_INFO"] ?? "")".utf8)]
            },
            executor: pool
        )
        return ASGIApp { scope, receive, send in
            guard case .http(let http) = scope else { return }
            let reported = Mutex(false)
            try await wsgi(
                scope: scope,
                receive: {
                    let event = try await receive()
                    if http.path.hasPrefix("/slow"), case .httpRequest(let body, _) = event, !body.isEmpty {
                        if reported.withLock({ reported in
                            defer { reported = true }
                            return !reported
                        }) {
                            arrived.report(http.path)
                        }
                    }
                    return event
                },
                send: send
            )
        }
    }

    /// Opens `count` connections that each send a request head declaring `declared` body bytes and
    /// then `initial` of them, and stall; prints, as JSON, each connection's answer (or how it ended).
    /// With `releaseFile`, it closes them all instead once that file exists.
    private static func stallers(count: Int, declared: Int, initial: Int, releaseFile: String? = nil) -> String {
        hostileScript(
            """
            conns = []
            for i in range(\(count)):
                s = connect()
                s.settimeout(90)
                s.sendall(b"POST /slow-%d HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: \(declared)\\r\\n\\r\\n" % i + b"x" * \(initial))
                conns.append(s)
            release = \(releaseFile.map { "\"\($0)\"" } ?? "None")
            if release:
                import os
                give_up = time.time() + 120
                while not os.path.exists(release) and time.time() < give_up:
                    time.sleep(0.05)
                for s in conns:
                    s.close()
                emit({"released": True})
                sys.exit(0)
            results = []
            for s in conns:
                response, rest = read_response(s)
                results.append(response["status"] if response else ending(s, rest))
            emit({"results": results})
            """
        )
    }

    @Test("Clients stalled in small bodies hold no blocking thread: a normal request is still answered")
    func stalledSmallBodiesDoNotStarve() async throws {
        let threads = 2
        let count = threads + 2
        let arrived = Reports<String>()
        let configuration = testConfiguration {
            // No body timeout here: only the prefetch can keep the threads free.
            $0.bodyReadTimeout = nil
            $0.minimumBodyDataRate = nil
        }
        let answer = try await withHostileServer(Self.app(threads: threads, arrived: arrived), configuration: configuration) { server in
            let release = FileManager.default.temporaryDirectory.appendingPathComponent("asgi-release-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: release) }
            let script = Self.stallers(count: count, declared: 1000, initial: 3, releaseFile: release)
            let stallers = try await ChildProcess.launch(pythonPath, ["-c", script, "\(server.port)"])
            defer { stallers.terminate() }
            for _ in 0..<count { _ = try await arrived.next() }
            let answer = try await runHostile(#"emit({"next": normal("/next")})"#, port: server.port)
            // Release the stalled clients (the test process ignores SIGTERM, and so do its children).
            _ = FileManager.default.createFile(atPath: release, contents: Data())
            _ = await stallers.result()
            return answer
        }
        #expect(answer["next"] as? String == "200 read 0 /next")
    }

    @Test("A stalled upload gets 408, below and past the prefetch; the next request is served")
    func stalledUploadGets408() async throws {
        let arrived = Reports<String>()
        let configuration = testConfiguration {
            $0.bodyReadTimeout = .seconds(1)
            $0.minimumBodyDataRate = nil
        }
        let (small, large, next) = try await withHostileServer(Self.app(threads: 2, arrived: arrived), configuration: configuration) { server in
            async let small = python(Self.stallers(count: 2, declared: 1000, initial: 3), ["\(server.port)"])
            async let large = python(Self.stallers(count: 2, declared: 1_000_000, initial: 100_000), ["\(server.port)"])
            let results = (try json(try await small), try json(try await large))
            let next = try await runHostile(#"emit({"next": normal("/next")})"#, port: server.port)
            return (HostileResult(values: results.0), HostileResult(values: results.1), next)
        }
        #expect(small["results"] as? [Int] == [408, 408], "\(small)")
        #expect(large["results"] as? [Int] == [408, 408], "\(large)")
        #expect(next["next"] as? String == "200 read 0 /next")
    }

    @Test("An upload slower than the minimum data rate gets 408 though bytes keep coming")
    func tooSlowUploadGets408() async throws {
        let arrived = Reports<String>()
        let configuration = testConfiguration {
            $0.bodyReadTimeout = .seconds(60)
            $0.minimumBodyDataRate = MinimumDataRate(bytesPerSecond: 1000, gracePeriod: .seconds(1))
        }
        let result = try await withHostileServer(Self.app(threads: 2, arrived: arrived), configuration: configuration) { server in
            try await runHostile(
                """
                import select
                s = connect()
                s.sendall(b"POST /slow HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 1000000\\r\\n\\r\\n")
                deadline = time.time() + 60
                sent = 0
                while time.time() < deadline:
                    readable, _, _ = select.select([s], [], [], 0.2)
                    if readable:
                        break
                    try:
                        s.sendall(b"y" * 20)
                        sent += 20
                    except OSError:
                        break
                response, rest = read_response(s)
                emit({"status": response["status"] if response else None, "sent": sent, "next": normal("/next")})
                """,
                port: server.port
            )
        }
        #expect(result["status"] as? Int == 408, "\(result)")
        #expect(result["next"] as? String == "200 read 0 /next")
    }
}
