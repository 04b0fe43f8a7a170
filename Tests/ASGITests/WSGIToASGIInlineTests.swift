@_spi(ASGIFrontend) import ASGI
import ASGITesting
import AsyncBridge
import Foundation
import Synchronization
import TestSupport
import Testing

/// What a WSGI-style application saw of the thread it ran on.
private final class ThreadLog: Sendable {
    private let threads = Mutex<[UInt]>([])
    private let names = Mutex<[String]>([])
    func record() {
        threads.withLock { $0.append(UInt(pthread_self())) }
        names.withLock { $0.append(currentThreadName()) }
    }
    var values: [UInt] { threads.withLock { $0 } }
    var threadNames: [String] { names.withLock { $0 } }
}

/// The name of the calling thread, as `top -H` shows it.
private func currentThreadName() -> String {
    ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?")
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A blocking server's view of one response: status, byte count and a checksum of the body, and
/// the threads `write` ran on; `failAfter` makes `write` throw (a client gone) past that many bytes.
private final class CountingResponse: @unchecked Sendable {
    var status: String?
    var bytes = 0
    var checksum = 0
    var writeThreads: Set<UInt> = []
    /// Blocks of the body that did not match `streamingApp`'s pattern.
    var patternMismatches = 0
    let failAfter: Int?
    /// Check the body against `streamingApp`'s pattern of blocks this large instead of summing it
    /// (summing megabytes is slow in debug builds).
    let patternBlockSize: Int?

    init(failAfter: Int? = nil, patternBlockSize: Int? = nil) {
        self.failAfter = failAfter
        self.patternBlockSize = patternBlockSize
    }

    var startResponse: StartResponse {
        { [self] status, _, _ in
            self.status = status
            return { [self] chunk in
                writeThreads.insert(UInt(pthread_self()))
                if let failAfter, bytes >= failAfter { throw ClientDisconnectedError.connectionClosed }
                if let blockSize = patternBlockSize {
                    // Block `i` of the body is the byte `i + 1` repeated: check each block's ends.
                    var offset = 0
                    while offset < chunk.count {
                        let position = bytes + offset
                        let blockEnd = (position / blockSize + 1) * blockSize
                        let expected = UInt8(truncatingIfNeeded: position / blockSize + 1)
                        let last = min(chunk.count, offset + blockEnd - position) - 1
                        if chunk[offset] != expected || chunk[last] != expected { patternMismatches += 1 }
                        offset = last + 1
                    }
                } else {
                    checksum = Self.checksum(chunk, into: checksum)
                }
                bytes += chunk.count
            }
        }
    }

    static func checksum(_ chunk: [UInt8], into sum: Int) -> Int {
        chunk.reduce(sum) { ($0 &* 31 &+ Int($1)) & 0xFFFF_FFFF }
    }
}

/// Serves one request to `application` the way a blocking frontend does (the FastCGI server's
/// worker threads): `ASGIToWSGI` on a plain thread, which becomes the application's
/// `asyncToSync` caller. Returns the serving thread and whether the call threw.
private func serveBlocking(
    _ application: any ASGIApplication,
    method: String = "GET",
    body: [UInt8] = [],
    response: CountingResponse
) async throws -> (thread: UInt, failed: Bool) {
    try await onWorkerThread { () -> (UInt, Bool) in
        var variables = ["REQUEST_METHOD": method, "PATH_INFO": "/page", "SERVER_PROTOCOL": "HTTP/1.1"]
        if !body.isEmpty { variables["CONTENT_LENGTH"] = String(body.count) }
        let environ = Environ(variables: variables, input: WSGIInput(ThreadRecordingInput(body)))
        do {
            var output = try ASGIToWSGI(application)(environ, response.startResponse)
            while try output.next() != nil {}
            return (UInt(pthread_self()), false)
        } catch {
            return (UInt(pthread_self()), true)
        }
    }
}

/// A WSGI-style application that records its thread and answers `chunks` chunks of `chunkSize`
/// bytes (chunk `i` is the byte `i + 1` repeated), produced one at a time as the server pulls them.
private func streamingApp(_ log: ThreadLog, chunks: Int = 1, chunkSize: Int = 16, closed: Recorder<Bool>? = nil) -> WSGIApp {
    WSGIApp { environ, start in
        log.record()
        let input = try environ.input.read()
        _ = try start("200 OK", [("Content-Type", "application/octet-stream"), ("X-Body-Length", String(input.count))], nil)
        var index = 0
        return WSGIClosureBody(
            next: {
                guard index < chunks else { return nil }
                defer { index += 1 }
                return [UInt8](repeating: UInt8(truncatingIfNeeded: index &+ 1), count: chunkSize)
            },
            close: { closed?.append(true) }
        )
    }
}

@Suite("WSGIToASGI under a blocking frontend")
struct WSGIToASGIInlineTests {
    @Test("A request without a body runs the WSGI-style application on the thread that serves it")
    func getRunsOnTheServingThread() async throws {
        let log = ThreadLog()
        let response = CountingResponse()
        let (thread, failed) = try await serveBlocking(WSGIToASGI(streamingApp(log)), response: response)
        #expect(!failed)
        #expect(response.status == "200 OK")
        #expect(response.bytes == 16)
        #expect(log.values == [thread])
        #expect(response.writeThreads == [thread])
    }

    @Test("A request whose body was read ahead runs on the serving thread and reads its whole body")
    func postWithBodyInHandRunsOnTheServingThread() async throws {
        let log = ThreadLog()
        let response = CountingResponse()
        let payload = (0..<10_000).map { UInt8(truncatingIfNeeded: $0) }
        let app = WSGIApp { environ, start in
            log.record()
            let input = try environ.input.read()
            _ = try start("200 OK", [], nil)
            return [input]
        }
        let (thread, failed) = try await serveBlocking(WSGIToASGI(app), method: "POST", body: payload, response: response)
        #expect(!failed)
        #expect(response.bytes == payload.count)
        #expect(response.checksum == CountingResponse.checksum(payload, into: 0))
        #expect(log.values == [thread])
    }

    @Test("A response far larger than the output buffer streams through on the serving thread")
    func largeStreamedResponse() async throws {
        let log = ThreadLog()
        let closed = Recorder<Bool>()
        let response = CountingResponse(patternBlockSize: 64 * 1024)
        // 8 MiB in 64 KiB chunks: the output buffer (256 KiB) fills again and again.
        let (thread, failed) = try await serveBlocking(
            WSGIToASGI(streamingApp(log, chunks: 128, chunkSize: 64 * 1024, closed: closed)),
            response: response
        )
        #expect(!failed)
        #expect(response.bytes == 128 * 64 * 1024)
        #expect(response.patternMismatches == 0)
        #expect(log.values == [thread])
        #expect(response.writeThreads == [thread])
        #expect(closed.values == [true])
    }

    @Test("A client that goes away in the middle of a large response stops the application and ends the call")
    func clientGoneDuringALargeResponse() async throws {
        let log = ThreadLog()
        let closed = Recorder<Bool>()
        let response = CountingResponse(failAfter: 1 << 20)
        // An endless body: only the client going away ends it.
        let app = WSGIApp { _, start in
            log.record()
            _ = try start("200 OK", [], nil)
            return WSGIClosureBody(next: { [UInt8](repeating: 7, count: 64 * 1024) }, close: { closed.append(true) })
        }
        let (thread, _) = try await serveBlocking(WSGIToASGI(app), response: response)
        #expect(log.values == [thread])
        #expect(closed.values == [true])
        #expect(response.bytes >= 1 << 20)

        // The adapter serves the next request normally.
        let next = CountingResponse()
        let again = try await serveBlocking(WSGIToASGI(streamingApp(log)), response: next)
        #expect(!again.failed)
        #expect(next.bytes == 16)
    }

    @Test("An application that fails before its response gets a 500 on the serving thread; the next request is served")
    func failureBeforeTheResponse() async throws {
        struct Broken: Error {}
        let log = ThreadLog()
        let app = WSGIToASGI(
            WSGIApp { _, _ in
                log.record()
                throw Broken()
            }
        )
        let response = CountingResponse()
        let (thread, failed) = try await serveBlocking(app, response: response)
        #expect(!failed)
        #expect(response.status?.hasPrefix("500") == true)
        #expect(log.values == [thread])

        let next = CountingResponse()
        let again = try await serveBlocking(WSGIToASGI(streamingApp(log)), response: next)
        #expect(!again.failed)
        #expect(next.status == "200 OK")
    }

    @Test("An application that fails after its response started fails the call (the server cuts the connection)")
    func failureAfterTheResponseStarted() async throws {
        struct Broken: Error {}
        let log = ThreadLog()
        let app = WSGIToASGI(
            WSGIApp { _, start in
                log.record()
                _ = try start("200 OK", [], nil)
                var sent = false
                return WSGIClosureBody(next: {
                    if sent { throw Broken() }
                    sent = true
                    return [UInt8](repeating: 1, count: 512 * 1024)
                })
            }
        )
        let response = CountingResponse()
        let (thread, failed) = try await serveBlocking(app, response: response)
        #expect(failed)
        #expect(log.values == [thread])
    }

    @Test("A body larger than the read-ahead streams in from a pool thread, as before")
    func largeBodyRunsOnThePool() async throws {
        let log = ThreadLog()
        let response = CountingResponse()
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let app = WSGIApp { environ, start in
            log.record()
            let input = try environ.input.read()
            _ = try start("200 OK", [], nil)
            return [input]
        }
        let (thread, failed) = try await serveBlocking(
            WSGIToASGI(app, bodyPrefetchBytes: 64 * 1024),
            method: "POST",
            body: payload,
            response: response
        )
        #expect(!failed)
        #expect(response.bytes == payload.count)
        #expect(response.checksum == CountingResponse.checksum(payload, into: 0))
        #expect(log.values.count == 1 && log.values != [thread])
    }

    @Test("threadSensitive runs on the serving thread (the outermost sync caller), and a streamed body and a large response get through")
    func threadSensitiveOnTheServingThread() async throws {
        let log = ThreadLog()
        let response = CountingResponse()
        // 300 KB: more than the read-ahead, so it streams in while the application reads it.
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let app = WSGIApp { environ, start in
            log.record()
            let input = try environ.input.read()
            _ = try start("200 OK", [], nil)
            // Echoed four times over: 1.2 MB, more than the output buffer.
            return [input, input, input, input]
        }
        let served = try await serveBlocking(WSGIToASGI(app, threadSensitive: true), method: "POST", body: payload, response: response)
        #expect(!served.failed)
        #expect(log.values == [served.thread])
        #expect(response.bytes == 4 * payload.count)
        let once = CountingResponse.checksum(payload, into: 0)
        #expect(response.checksum == [payload, payload, payload].reduce(once) { CountingResponse.checksum($1, into: $0) })

        // A request without a body that reads its input.
        let get = try await serveBlocking(WSGIToASGI(streamingApp(log), threadSensitive: true), response: CountingResponse())
        #expect(!get.failed)
        #expect(log.values.last == get.thread)
    }

    @Test("A custom executor keeps running the requests under a blocking frontend")
    func customExecutorIsKept() async throws {
        let pool = BlockingThreadPool(threads: 1, name: "inline-test")
        defer { pool.shutdown() }
        let log = ThreadLog()
        let served = try await serveBlocking(WSGIToASGI(streamingApp(log), executor: pool), response: CountingResponse())
        #expect(!served.failed)
        #expect(log.values.count == 1 && log.values != [served.thread])
        #expect(log.threadNames.first?.hasPrefix("inline-test") == true)
    }

    @Test("Served from async code on the cooperative pool (the HTTP server), the application runs on the shared pool, as before")
    func fromAsyncServersNothingChanges() async throws {
        let log = ThreadLog()
        let response = try await HTTPCommunicator(application: WSGIToASGI(streamingApp(log)), method: "GET", path: "/").getResponse(
            timeout: .seconds(60)
        )
        #expect(response.status == 200)
        #expect(log.threadNames.first?.hasPrefix("asgi-blocking") == true)
    }
}
