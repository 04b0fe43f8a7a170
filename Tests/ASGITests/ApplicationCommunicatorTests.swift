import ASGITesting
import AsyncBridge
import TestSupport
import Testing

@testable import ASGI

/// Ports of asgiref's tests/test_testing.py, plus the fixes for its known bugs (T2, T3).
@Suite("ApplicationCommunicator")
struct ApplicationCommunicatorTests {
    /// What asgiref's test gets from `WsgiToAsgi` around `start_response("200 OK", []); yield b"content"`:
    /// start, the content with more to come, then the final empty body.
    static let contentApplication = ASGIApp { _, receive, send in
        _ = try await receive()
        try await send(.httpResponseStart(status: 200))
        try await send(.httpResponseBody(body: Array("content".utf8), moreBody: true))
        try await send(.httpResponseBody())
    }

    static let fooScope = Scope.http(
        HTTPScope(httpVersion: "1.0", method: "GET", path: "/foo/", queryString: Array("bar=baz".utf8))
    )

    /// An application that waits for input forever.
    static let hungApplication = ASGIApp { _, receive, _ in
        while true { _ = try await receive() }
    }

    /// The sequence both `receive_nothing` tests check.
    static func checkReceiveNothing(_ instance: ApplicationCommunicator) async throws {
        // No event: the application waits for its request.
        #expect(try await instance.receiveNothing(timeout: .milliseconds(20)))
        try await instance.sendInput(.httpRequest())
        // Three events are coming; each is seen (not consumed) by receiveNothing, then received.
        // The long timeout is only an upper bound: receiveNothing returns as soon as output waits.
        for _ in 0..<3 {
            #expect(try await instance.receiveNothing(timeout: .seconds(5)) == false)
            _ = try await instance.receiveOutput(timeout: .seconds(60))
        }
        // The response is complete.
        #expect(try await instance.receiveNothing(timeout: .milliseconds(10)))
    }

    /// Ports `test_receive_nothing` (there with a WSGI application behind `WsgiToAsgi`; here the
    /// ASGI application that adapter would be).
    @Test func receiveNothing() async throws {
        let instance = ApplicationCommunicator(application: Self.contentApplication, scope: Self.fooScope)
        try await Self.checkReceiveNothing(instance)
    }

    /// Ports `test_receive_nothing_lazy_loop`: the communicator is made in synchronous code, outside
    /// any task, and used later from async code.
    @Test func receiveNothingWithCommunicatorMadeOutsideAsyncCode() async throws {
        func makeOutsideAsyncCode() -> ApplicationCommunicator {
            ApplicationCommunicator(application: Self.contentApplication, scope: Self.fooScope)
        }
        try await Self.checkReceiveNothing(makeOutsideAsyncCode())
    }

    /// T2: `wait` on a hung application throws `TimeoutError` (asgiref returns silently) and cancels
    /// it, after which the application counts as finished.
    @Test func waitOnHungApplicationThrowsTimeout() async throws {
        let communicator = ApplicationCommunicator(application: Self.hungApplication, scope: Self.fooScope)
        await #expect(throws: TimeoutError.self) { try await communicator.wait(timeout: .milliseconds(10)) }
        try await communicator.wait(timeout: .seconds(60))
    }

    /// A `receiveOutput` timeout throws `TimeoutError` and cancels the application, as asgiref does.
    @Test func receiveOutputTimeoutCancelsTheApplication() async throws {
        let communicator = ApplicationCommunicator(application: Self.hungApplication, scope: Self.fooScope)
        await #expect(throws: TimeoutError.self) { try await communicator.receiveOutput(timeout: .milliseconds(10)) }
        try await communicator.wait(timeout: .seconds(60))
        await #expect(throws: CommunicatorError.applicationFinished) { try await communicator.receiveOutput(timeout: .seconds(60)) }
    }

    /// The application's error comes back from `receiveOutput` (after the output it sent before
    /// failing), `wait`, `sendInput` and `receiveNothing`.
    @Test func applicationErrorIsRethrown() async throws {
        let communicator = ApplicationCommunicator(
            application: ASGIApp { _, receive, send in
                _ = try await receive()
                try await send(.httpResponseStart(status: 500))
                throw TestError("boom")
            },
            scope: Self.fooScope
        )
        try await communicator.sendInput(.httpRequest())
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .httpResponseStart(status: 500))
        await #expect(throws: TestError("boom")) { try await communicator.receiveOutput(timeout: .seconds(60)) }
        await #expect(throws: TestError("boom")) { try await communicator.wait(timeout: .seconds(60)) }
        await #expect(throws: TestError("boom")) { try await communicator.sendInput(.httpDisconnect) }
        await #expect(throws: TestError("boom")) { try await communicator.receiveNothing() }
    }

    /// T3: input for an application that finished is an error, not a message nobody reads; output
    /// from it ends at once instead of at the timeout.
    @Test func applicationFinishedIsReported() async throws {
        let communicator = ApplicationCommunicator(application: ASGIApp { _, _, _ in }, scope: Self.fooScope)
        try await communicator.wait(timeout: .seconds(60))
        await #expect(throws: CommunicatorError.applicationFinished) { try await communicator.sendInput(.httpRequest()) }
        await #expect(throws: CommunicatorError.applicationFinished) { try await communicator.receiveOutput(timeout: .seconds(60)) }
        #expect(try await communicator.receiveNothing())
    }

    /// A body before `http.response.start` makes the application's `send` throw `ASGIProtocolError`.
    @Test func bodyBeforeStartIsRejected() async throws {
        let communicator = ApplicationCommunicator(
            application: ASGIApp { _, _, send in try await send(.httpResponseBody(body: [1])) },
            scope: Self.fooScope
        )
        let error = await #expect(throws: ASGIProtocolError.self) { try await communicator.receiveOutput(timeout: .seconds(60)) }
        #expect(error?.message.contains("'http.response.start' must come first") == true)
    }

    /// Sending after the response is complete makes `send` throw; the events before it arrive.
    @Test func sendAfterCompleteResponseIsRejected() async throws {
        let rejected = Recorder<String>()
        let communicator = ApplicationCommunicator(
            application: ASGIApp { _, _, send in
                try await send(.httpResponseStart(status: 204))
                try await send(.httpResponseBody())
                do {
                    try await send(.httpResponseBody(body: [1]))
                } catch let error as ASGIProtocolError {
                    rejected.append(error.message)
                }
            },
            scope: Self.fooScope
        )
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .httpResponseStart(status: 204))
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .httpResponseBody())
        try await communicator.wait(timeout: .seconds(60))
        #expect(rejected.values.count == 1)
        #expect(rejected.values.first?.contains("already complete") == true)
    }

    @TaskLocal static var testMarker: String?

    /// The application runs detached: task-local values of the test do not leak into it
    /// (asgiref runs it in a fresh, empty context).
    @Test func taskLocalsDoNotLeakIntoTheApplication() async throws {
        let seen = Recorder<String?>()
        try await Self.$testMarker.withValue("from the test") {
            let communicator = ApplicationCommunicator(
                application: ASGIApp { _, _, _ in seen.append(Self.testMarker) },
                scope: Self.fooScope
            )
            try await communicator.wait(timeout: .seconds(60))
        }
        #expect(seen.values == [nil])
    }
}
