/// Sends the response body's next chunk at once (PEP 3333's `write` callable).
public typealias Write = ([UInt8]) throws -> Void

/// Starts the response (PEP 3333's `start_response`): a status such as `"200 OK"` (a bare `"200"`
/// is accepted), the headers, and the error being handled when replacing an earlier start.
/// Returns the ``Write`` callable.
public typealias StartResponse = (_ status: String, _ headers: [(String, String)], _ error: (any Error)?) throws -> Write

/// A blocking, WSGI-style application: the CGI environ and `startResponse` in, the body out.
///
/// It runs on a thread that may block (never Swift's cooperative pool): a FastCGI worker thread,
/// or a pool thread when served through ``WSGIToASGI``.
///
/// ```swift
/// let hello = WSGIApp { environ, startResponse in
///     _ = try startResponse("200 OK", [("Content-Type", "text/plain")], nil)
///     return [Array("hello \(environ["PATH_INFO"] ?? "")".utf8)]
/// }
/// ```
public protocol WSGIApplication: Sendable {
    /// Handles one request.
    func callAsFunction(_ environ: Environ, _ startResponse: @escaping StartResponse) throws -> any WSGIBody
}

/// A WSGI-style application made from a closure.
public struct WSGIApp: WSGIApplication {
    private let body: @Sendable (Environ, @escaping StartResponse) throws -> any WSGIBody

    /// Wraps `body` as an application.
    public init(_ body: @escaping @Sendable (Environ, @escaping StartResponse) throws -> any WSGIBody) {
        self.body = body
    }

    /// Handles one request by calling the closure.
    public func callAsFunction(_ environ: Environ, _ startResponse: @escaping StartResponse) throws -> any WSGIBody {
        try body(environ, startResponse)
    }
}
