import ASGI

/// The ASGI application a worker serves: each HTTP request recorded in the scoreboard for its
/// duration, and the status and ping paths answered from it. WebSocket and lifespan scopes pass
/// through untracked (a WebSocket lives as long as its client wants, not a request's time).
///
/// A WSGI-style application is recorded inside ``WSGIToASGI`` instead (`tracker` is `nil` here):
/// what must be seen is its blocking call, which goes on after a request timeout has answered
/// the client, not the ASGI request around it.
struct TrackedApplication: ASGIApplication {
    let application: any ASGIApplication
    let tracker: RequestTracker?
    let endpoints: StatusEndpoints

    func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        guard case .http(let http) = scope else {
            return try await application(scope: scope, receive: receive, send: send)
        }
        if !endpoints.isEmpty, let answer = endpoints.answer(path: http.path, query: http.queryString) {
            try await send(
                .httpResponseStart(
                    status: 200,
                    headers: [
                        ("content-type", answer.contentType), ("content-length", String(answer.body.count)),
                        ("cache-control", "no-store"),
                    ]
                )
            )
            try await send(.httpResponseBody(body: answer.body))
            return
        }
        guard let tracker else {
            return try await application(scope: scope, receive: receive, send: send)
        }
        let ticket = tracker.begin(method: http.method, path: http.path)
        defer { tracker.end(ticket) }
        try await application(scope: scope, receive: receive, send: send)
    }
}
