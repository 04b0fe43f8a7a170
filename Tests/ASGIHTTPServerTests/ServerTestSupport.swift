import ASGI
import ASGIHTTPServer
import Dispatch
import Foundation
import InMemoryLogging
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import TestSupport
import Testing

/// A running test server.
struct TestServer: Sendable {
    let port: Int
    let trigger: GracefulShutdownTestTrigger
    var url: String { "http://127.0.0.1:\(port)" }
    var ws: String { "ws://127.0.0.1:\(port)" }
}

/// The configuration tests start from: loopback, an ephemeral port, no access log noise.
func testConfiguration(_ adjust: (inout HTTPServerConfiguration) -> Void = { _ in }) -> HTTPServerConfiguration {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, gracefulShutdownTimeout: .seconds(20))
    configuration.metrics.enabled = false
    adjust(&configuration)
    configuration.host = "127.0.0.1"
    configuration.port = 0
    return configuration
}

/// Runs `app` on a server bound to 127.0.0.1:0 for the length of `body`, then shuts it down
/// gracefully and waits for `run()` to return (its error, if any, is thrown).
func withServer<R: Sendable>(
    _ app: any ASGIApplication,
    configuration: HTTPServerConfiguration = testConfiguration(),
    logger: Logger = memoryLogger(),
    _ body: @Sendable (TestServer) async throws -> R
) async throws -> R {
    try await testGracefulShutdown { trigger in
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (addresses, continuation) = AsyncStream<ASGIAddress>.makeStream()
            let server = ASGIHTTPServer(
                application: app,
                configuration: configuration,
                logger: logger,
                onServerRunning: { continuation.yield($0) }
            )
            group.addTask {
                defer { continuation.finish() }
                try await server.run()
            }
            var iterator = addresses.makeAsyncIterator()
            guard let address = await iterator.next(), let port = address.port else {
                try await group.waitForAll()
                throw TestFailure("the server stopped before it listened")
            }
            let result = try await body(TestServer(port: port, trigger: trigger))
            trigger.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        }
    }
}

/// Things an application reports to its test, in order.
final class Reports<Element: Sendable>: Sendable {
    private struct State {
        var buffer: [Element] = []
        var waiter: CheckedContinuation<Element, Never>?
    }

    private let state = Mutex(State())

    func report(_ element: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.buffer.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// The next report (the test is its only reader).
    func next() async throws -> Element {
        await withCheckedContinuation { (continuation: CheckedContinuation<Element, Never>) in
            let ready = state.withLock { state -> Element? in
                if !state.buffer.isEmpty { return state.buffer.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Decodes a Python client's JSON output.
func json(_ result: ChildProcess.Result) throws -> [String: Any] {
    guard result.status == 0,
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    else {
        throw TestFailure("client failed (\(result.status)): \(result.stdout) \(result.stderr)")
    }
    return object
}

/// A plain response in one event pair.
func respond(_ send: Send, status: Int = 200, _ body: String, headers: ASGIHeaders = [("content-type", "text/plain")]) async throws {
    try await send(.httpResponseStart(status: status, headers: headers))
    try await send(.httpResponseBody(body: Array(body.utf8)))
}

/// Reads a request body to its end through `receive`.
func readBody(_ receive: Receive) async throws -> [UInt8] {
    var body: [UInt8] = []
    while true {
        switch try await receive() {
        case .httpRequest(let chunk, let more):
            body += chunk
            if !more { return body }
        default:
            return body
        }
    }
}

/// The `StreamingServer` helper (built beside the test bundle) running in a process of its own.
struct StreamingServerProcess {
    let process: ChildProcess
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    static func start(eventLoops: Bool) async throws -> StreamingServerProcess {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let binary = directory.appendingPathComponent("StreamingServer").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestFailure("\(binary) is missing: build with `swift build --build-tests`")
        }
        let process = try await ChildProcess.launch(binary, eventLoops ? ["--event-loops"] : [])
        guard let line = await process.firstLine(), line.hasPrefix("listening "), let port = Int(line.dropFirst(10)) else {
            process.terminate()
            throw TestFailure("StreamingServer did not start: \(await process.result().stderr)")
        }
        return StreamingServerProcess(process: process, port: port)
    }

    /// Stops the server (SIGTERM: a graceful shutdown) and waits for it to exit.
    func stop() async {
        process.terminate()
        _ = await process.result()
    }

    /// A field of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
    func memory(_ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
            return kib * 1024
        }
        return 0
    }
}
