import ASGI
import ASGITesting
import Testing

/// The README's and the ASGITesting documentation's in-process test, as they show it: the code
/// blocks there are excerpts of this file (`make docs` checks that they still are).
@Suite("Documentation examples")
struct DocumentationExampleTests {
    /// The README's blocking handler, served in process.
    let legacy = WSGIApp { environ, startResponse in
        let name = String(decoding: try environ.input.read(), as: UTF8.self)
        _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
        return [Array("hello \(name) at \(environ["PATH_INFO"] ?? "/")\n".utf8)]
    }

    /// Laid out as the documents show it, so `make format` leaves it alone.
    // swift-format-ignore
    @Test func blockingHandlerAnswersInProcess() async throws {
        let app = WSGIToASGI(legacy)
        let response = try await HTTPCommunicator(application: app, method: "POST", path: "/greet",
                                                  body: Array("ada".utf8)).getResponse()
        #expect(response.status == 200)
        #expect(response.text == "hello ada at /greet\n")
    }
}
