import ASGI
import ASGIFastCGI
import Foundation
import Logging
import TestSupport
import Testing

/// An application task that outlives its request (a leaked `Task`) must not reach the next
/// request a worker thread serves: the libfcgi request it wrote through belongs to that one now.
@Suite("FastCGI: writes from a finished request")
struct LateWriteTests {
    @Test func aLateSendFailsAndTheNextResponseIsItsOwn() async throws {
        let strayMayWrite = Gate()
        let secondMayAnswer = Gate()
        let strayOutcome = Shared<String?>(nil)
        let app = ASGIApp { scope, _, send in
            guard case .http(let http) = scope else { return }
            if http.path == "/first" {
                // A response started and left unfinished; the task that would finish it outlives
                // the request.
                try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
                try await send(.httpResponseBody(body: Array("first ".utf8), moreBody: true))
                Task {
                    await strayMayWrite.wait()
                    do {
                        try await send(.httpResponseBody(body: Array("LEAKED".utf8), moreBody: false))
                        strayOutcome.update { $0 = "written" }
                    } catch {
                        strayOutcome.update { $0 = "refused: \(error)" }
                    }
                }
                return
            }
            await secondMayAnswer.wait()
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain"), ("content-length", "6")]))
            try await send(.httpResponseBody(body: Array("second".utf8)))
        }
        try await withTestDirectory("late-write") { directory in
            let path = directory.file("app.sock")
            let configuration = FastCGIConfiguration(bind: .unix(path: path), workerThreads: 1)
            let server = FastCGIServer(application: app, configuration: configuration, logger: CapturedLogs().logger)
            try await withServer(server) { _ in
                let first = try await cgiFcgi(path, environment: cgiRequest("/first"), in: directory)
                #expect(!first.output.contains("LEAKED"))

                async let second = cgiFcgi(path, environment: cgiRequest("/second"), in: directory)
                try await eventually("the second request in flight on the one worker thread") { secondMayAnswer.arrivals == 1 }
                strayMayWrite.open()
                try await eventually("the stray send's outcome") { strayOutcome.current != nil }
                secondMayAnswer.open()
                let answer = try await second
                #expect(strayOutcome.current?.hasPrefix("refused") == true, "\(strayOutcome.current ?? "")")
                #expect(answer.output.hasPrefix("Status: 200 OK"))
                #expect(answer.output.hasSuffix("\r\n\r\nsecond"), "\(answer.output)")
            }
        }
    }
}
