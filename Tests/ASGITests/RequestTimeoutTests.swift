import ASGI
import ASGITesting
import TestSupport
import Testing

@Suite("RequestTimeout")
struct RequestTimeoutTests {
    /// A blocking handler that overruns the limit gets a 504 at the limit (it is released only
    /// afterwards, so the timeout cannot have waited for it); its next write fails and `close()` runs.
    @Test func slowBlockingHandlerGets504AndIsReleased() async throws {
        let release = Gate()
        let closed = Gate()
        let writeFailed = Recorder<Bool>()
        let app = WSGIApp { _, start in
            release.waitBlocking()
            let write = try start("200 OK", [], nil)
            do { try write(bytes("late")) } catch { writeFailed.append(true) }
            return WSGIClosureBody(next: { nil }, close: { closed.open() })
        }
        let response = try await HTTPCommunicator(
            application: RequestTimeout(WSGIToASGI(app), limit: .milliseconds(50)),
            method: "GET",
            path: "/slow"
        ).getResponse(timeout: .seconds(30))
        #expect(response.status == 504)
        release.open()
        await closed.wait()
        #expect(writeFailed.values == [true])
    }

    /// Within the limit the response passes through unchanged.
    @Test func fastResponsePassesThrough() async throws {
        let app = WSGIApp { _, start in
            _ = try start("200 OK", [], nil)
            return [bytes("quick")]
        }
        let response = try await HTTPCommunicator(application: RequestTimeout(WSGIToASGI(app), limit: .seconds(30)), method: "GET", path: "/")
            .getResponse(timeout: .seconds(60))
        #expect(response.status == 200)
        #expect(response.body.text == "quick")
    }
}
