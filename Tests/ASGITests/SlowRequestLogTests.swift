import ASGITesting
import AsyncBridge
import InMemoryLogging
import Logging
import TestSupport
import Testing

@testable import ASGI

@Suite("SlowRequestLog")
struct SlowRequestLogTests {
    /// A request held past the threshold is logged once, while it still runs (it is released only
    /// after the line was seen); a quick one is not; the next request is served normally.
    @Test func logsOnceWhileRunning() async throws {
        let logs = InMemoryLogHandler()
        let logger = memoryLogger(logs, label: "slow-test")
        let release = Gate()
        let app = ASGIApp { scope, receive, send in
            guard case .http(let http) = scope else { return }
            _ = try await receive()
            if http.path == "/hold" { await release.wait() }
            try await send(.httpResponseStart(status: 200, headers: []))
            try await send(.httpResponseBody(body: Array(http.path.utf8)))
        }
        let slowLog = SlowRequestLog(app, threshold: .milliseconds(50), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await slowLog.watch() }
            let quick = try await HTTPCommunicator(application: slowLog, path: "/quick").getResponse(timeout: .seconds(10))
            #expect(quick.text == "/quick")
            let held = HTTPCommunicator(
                application: slowLog,
                method: "POST",
                path: "/hold",
                queryString: "id=7",
                client: ASGIAddress(host: "192.0.2.1", port: 5555)
            )
            async let response = held.getResponse(timeout: .seconds(30))
            let entry = try await logs.waitForEntry("the slow request") { "\($0.message)".hasPrefix("Slow request") }
            let line = "\(entry.message)"
            #expect(line.hasPrefix("Slow request: POST /hold?id=7 has run for 0."), "\(line)")
            #expect(line.hasSuffix(" s (client 192.0.2.1:5555)."), "\(line)")
            #expect(slowLog.slowRequests == 1)
            release.open()
            #expect(try await response.text == "/hold")
            let after = try await HTTPCommunicator(application: slowLog, path: "/after").getResponse(timeout: .seconds(10))
            #expect(after.text == "/after")
            group.cancelAll()
        }
        #expect(slowLog.slowRequests == 1)
    }

    /// Logging is once per request: the watcher's later passes skip a request already logged, and
    /// a finished request leaves the table (an app that throws included).
    @Test func oncePerRequestAndFinishedRequestsLeave() async throws {
        let logs = InMemoryLogHandler()
        let logger = memoryLogger(logs, label: "slow-test")
        let entered = Gate()
        let release = Gate()
        let app = ASGIApp { _, _, _ in
            entered.open()
            await release.wait()
            throw TestError("the app fails after being slow")
        }
        let slowLog = SlowRequestLog(app, threshold: .seconds(1), logger: logger)
        let task = Task { try await slowLog(scope: .http(HTTPScope(method: "GET", path: "/x")), receive: { .httpDisconnect }, send: { _ in }) }
        await entered.wait()
        let start = ContinuousClock.now
        slowLog.logSlowRequests(now: start)  // too early: nothing
        slowLog.logSlowRequests(now: start + .seconds(2))
        slowLog.logSlowRequests(now: start + .seconds(3))
        #expect(slowLog.slowRequests == 1)
        #expect(logs.messages.count == 1)
        #expect(logs.messages.first?.hasPrefix("Slow request: GET /x has run for ") == true)
        release.open()
        await #expect(throws: TestError.self) { try await task.value }
        slowLog.logSlowRequests(now: start + .seconds(60))
        #expect(slowLog.slowRequests == 1)
    }

    @Test func lifespanAndWebSocketPassThroughUnwatched() async throws {
        let slowLog = SlowRequestLog(ASGIApp { _, _, _ in }, threshold: .zero)
        try await slowLog(scope: .websocket(WebSocketScope()), receive: { .websocketConnect }, send: { _ in })
        try await slowLog(scope: .lifespan(LifespanScope()), receive: { .lifespanStartup }, send: { _ in })
        slowLog.logSlowRequests(now: .now)
        #expect(slowLog.slowRequests == 0)
    }

    @Test func intervalAndFormatting() {
        #expect(SlowRequestLog(ASGIApp { _, _, _ in }, threshold: .seconds(5)).interval == .milliseconds(500))
        #expect(SlowRequestLog(ASGIApp { _, _, _ in }, threshold: .milliseconds(20)).interval == .milliseconds(10))
        #expect(SlowRequestLog(ASGIApp { _, _, _ in }, threshold: .seconds(60)).interval == .seconds(1))
        #expect(SlowRequestLog.seconds(.milliseconds(57)) == "0.05")
        #expect(SlowRequestLog.seconds(.milliseconds(250)) == "0.25")
        #expect(SlowRequestLog.seconds(.milliseconds(5_049)) == "5.0")
        #expect(SlowRequestLog.seconds(.seconds(62) + .milliseconds(300)) == "62.3")
    }
}
