import ASGI
import ASGIHTTPServer
import ServiceLifecycleTestKit
import TestSupport
import Testing

/// Graceful shutdown as a swift-service-lifecycle service.
@Suite(.timeLimit(.minutes(1)))
struct ShutdownTests {
    @Test("Graceful shutdown lets the request in flight finish, then run() returns", arguments: [false, true])
    func inFlightRequestCompletes(onEventLoops: Bool) async throws {
        let started = Reports<String>()
        let release = Gate()
        let app = ASGIApp { scope, _, send in
            guard case .http = scope else { return }
            started.report("in flight")
            await release.wait()
            try await respond(send, "finished after shutdown began")
        }
        try await withServer(app, configuration: testConfiguration { $0.runsOnEventLoops = onEventLoops }) { server in
            let client = try await ChildProcess.launch("/usr/bin/curl", ["--silent", "--max-time", "30", "-w", "|%{http_code}", "\(server.url)/"])
            defer { client.terminate() }
            #expect(try await started.next() == "in flight")
            server.trigger.triggerGracefulShutdown()
            release.open()
            let result = await client.result()
            #expect(result.stdout == "finished after shutdown began|200")
        }
    }

    @Test("Past the grace period, requests still in flight are cancelled with a 503 and run() returns", arguments: [false, true])
    func gracePeriodExpires(onEventLoops: Bool) async throws {
        let started = Reports<String>()
        let app = ASGIApp { scope, _, _ in
            guard case .http = scope else { return }
            started.report("in flight")
            // Never answers: only cancellation ends this.
            try await Task.sleep(for: .seconds(3600))
        }
        let configuration = testConfiguration {
            $0.gracefulShutdownTimeout = .milliseconds(100)
            $0.runsOnEventLoops = onEventLoops
        }
        try await withServer(app, configuration: configuration) { server in
            let client = try await ChildProcess.launch("/usr/bin/curl", ["--silent", "--max-time", "30", "-w", "|%{http_code}", "\(server.url)/"])
            defer { client.terminate() }
            #expect(try await started.next() == "in flight")
            server.trigger.triggerGracefulShutdown()
            let result = await client.result()
            #expect(result.stdout == "Service Unavailable|503")
        }
    }
}
