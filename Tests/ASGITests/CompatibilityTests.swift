import ASGITesting
import Testing

@testable import ASGI

/// Ports of asgiref's tests/test_compatibility.py.
@Suite("ASGI 2 compatibility")
struct CompatibilityTests {
    /// An ASGI 2 application: called with the scope, it returns the instance that serves it.
    struct LegacyApplication: ASGI2Application {
        func instance(for scope: Scope) -> any ASGI2Instance { LegacyInstance(scope: scope) }
    }

    /// Echoes the request body and reports the scope's path in a header.
    struct LegacyInstance: ASGI2Instance {
        let scope: Scope

        func callAsFunction(receive: @escaping Receive, send: @escaping Send) async throws {
            guard case .http(let http) = scope else { throw ASGIProtocolError.unsupportedScope(scope.type) }
            guard case .httpRequest(let body, _) = try await receive() else { return }
            try await send(.httpResponseStart(status: 200, headers: [("x-scope", http.path)]))
            try await send(.httpResponseBody(body: body))
        }
    }

    /// An ASGI 3 application.
    struct ModernApplication: ASGIApplication {
        func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {}
    }

    /// Ports `test_is_double_callable`. Python guesses from signatures; Swift knows from the
    /// protocol a type conforms to, so each of asgiref's shapes maps to one conformance.
    @Test func isDoubleCallableFollowsTheProtocol() {
        #expect(isDoubleCallable(LegacyApplication()))
        #expect(!isDoubleCallable(ModernApplication()))
        #expect(!isDoubleCallable(ASGIApp { _, _, _ in }))
        #expect(!isDoubleCallable("not an application"))
    }

    /// Ports `test_double_to_single_signature`: the converted application is single-callable.
    @Test func convertedApplicationIsSingleCallable() {
        #expect(!isDoubleCallable(doubleToSingleCallable(LegacyApplication())))
        #expect(!isDoubleCallable(guaranteeSingleCallable(LegacyApplication())))
        #expect(guaranteeSingleCallable(ModernApplication()) is ModernApplication)
    }

    /// Ports `test_double_to_single_communicator`: the adapter forwards the scope, `receive` and
    /// `send` (asgiref: scope value "woohoo" and input 42 come back in the output).
    @Test func convertedApplicationRunsEndToEnd() async throws {
        let communicator = ApplicationCommunicator(
            application: LegacyApplication(),
            scope: .http(HTTPScope(path: "/woohoo"))
        )
        try await communicator.sendInput(.httpRequest(body: [42]))
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .httpResponseStart(status: 200, headers: [("x-scope", "/woohoo")]))
        #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .httpResponseBody(body: [42]))
        try await communicator.wait(timeout: .seconds(60))
    }
}
