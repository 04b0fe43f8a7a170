import ASGI
import ASGIHTTPServer
import InMemoryLogging
import Logging
import MetricsTestKit
import TestSupport
import Testing

/// Metrics and the access log.
@Suite(.timeLimit(.minutes(1)))
struct MetricsTests {
    @Test("Requests are counted by status class, in-flight returns to zero, one access log line each")
    func countersAndAccessLog() async throws {
        let metrics = TestMetrics()
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            try await respond(send, status: http.path == "/missing" ? 404 : 200, "x")
        }
        let configuration = testConfiguration {
            $0.metrics.enabled = true
            $0.metrics.factory = metrics
            $0.metrics.requestsLabel = "test_requests"
            $0.metrics.dimensions = [("server", "test")]
            $0.accessLog = true
        }
        let handler = InMemoryLogHandler()
        _ = try await withServer(app, configuration: configuration, logger: memoryLogger(handler, level: .info)) { server in
            try await curl(["\(server.url)/a", "\(server.url)/b", "\(server.url)/missing"])
        }
        #expect(metrics.counterTotal(label: "test_requests", dimensions: [("server", "test"), ("status", "2xx")]) == 2)
        #expect(metrics.counterTotal(label: "test_requests", dimensions: [("server", "test"), ("status", "4xx")]) == 1)
        let inFlight = try metrics.expectMeter("asgi_http_requests_in_flight", [("server", "test")])
        #expect(inFlight.lastValue == 0)
        let timer = try metrics.expectTimer("asgi_http_request_duration", [("server", "test")])
        #expect(timer.values.count == 3)
        let entries = handler.entries.filter { $0.metadata["asgi.request.id"] != nil }
        #expect(entries.count == 3)
        #expect(Set(entries.compactMap { $0.metadata["asgi.request.id"].map { "\($0)" } }).count == 3)
        let missing = try #require(entries.first { $0.metadata["asgi.request.path"] == "/missing" })
        #expect("\(missing.message)".hasPrefix("127.0.0.1:"))
        #expect("\(missing.message)".contains("\"GET /missing HTTP/1.1\" 404 "))
        #expect(missing.metadata["asgi.request.method"] == "GET")
        #expect(missing.metadata["asgi.request.status"] == "404")
        #expect(missing.metadata["asgi.request.duration"] != nil)
    }
}
