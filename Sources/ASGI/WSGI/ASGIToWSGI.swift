import AsyncBridge

/// Serves an ASGI application as a blocking, WSGI-style one, so an async application runs under a
/// blocking server: the FastCGI frontend's worker threads serve every ASGI application through it,
/// and so can any other blocking embedding.
///
/// The calling thread becomes the application's sync parent (`AsyncToSync.run(_:)`): the
/// application runs as a task served by this thread, and its `receive()` reads `environ.input` and
/// its `send()` writes through `startResponse`'s `write` on this very thread, chunk by chunk as
/// they are sent (so streamed responses stream). See `BlockingExchange` for the rules:
/// - the request body is read as the application asks for it, never past `CONTENT_LENGTH`;
/// - `http.disconnect` comes only once the response is complete or the client is really gone
///   (never just because the body was read: an application that watches for a disconnect while it
///   streams keeps streaming);
/// - `http.response.pathsend` is streamed from the file (and the scope announces it);
/// - under a server of this package the response completes at the final body event, even if the
///   application goes on working afterwards;
/// - a ``WSGIMount`` it wraps hands the requests under its path to its WSGI-style application
///   directly, on this thread, with this environ (no ASGI events at all).
///
/// ```swift
/// let legacyServer = FastCGIServer(application: myAsyncApp, …)   // uses ASGIToWSGI
/// ```
public struct ASGIToWSGI: WSGIApplication {
    /// The wrapped application.
    public let application: any ASGIApplication
    /// Largest `http.request` chunk read from the input.
    public let chunkSize: Int
    /// `application` when it is a mount, whose legacy requests skip the ASGI events.
    private let mount: WSGIMount?

    /// Wraps `application`.
    public init(_ application: any ASGIApplication, chunkSize: Int = ServerDefaults.chunkSize) {
        self.application = application
        self.chunkSize = max(1, chunkSize)
        self.mount = application as? WSGIMount
    }

    /// Handles one request on the calling (blocking) thread.
    /// - Throws: the application's error; ``ASGIProtocolError`` if it sends events out of order or
    ///   finishes without a complete response; ``WSGIError`` when the environ's `CONTENT_LENGTH` is
    ///   not a length.
    public func callAsFunction(_ environ: Environ, _ startResponse: @escaping StartResponse) throws -> any WSGIBody {
        if let mount, let (legacy, mounted) = mount.blockingRoute(for: environ) {
            return try legacy(mounted, startResponse)
        }
        let scope = try Self.scope(from: environ)
        let exchange = BlockingExchange(environ: environ, startResponse: startResponse, chunkSize: chunkSize)
        let application = self.application
        do {
            try AsyncToSync.run {
                try await application(
                    scope: .http(scope),
                    receive: { try await exchange.receive() },
                    send: { event in try await exchange.send(event) }
                )
            }
        } catch {
            exchange.close()
            throw error
        }
        exchange.close()
        try exchange.finish()
        return [[UInt8]]()
    }

    /// The ASGI scope of a WSGI environ: the scope it was built from when a server of this package
    /// built it, else read from its CGI variables (``CGIRequestHead``). It announces what this
    /// adapter carries: `http.response.pathsend`, and not trailers (WSGI has none).
    static func scope(from environ: Environ) throws -> HTTPScope {
        var scope: HTTPScope
        if let built = environ.scope {
            scope = built
        } else {
            do {
                scope = try CGIRequestHead.parse(environ.variables).head.httpScope(state: nil, extensions: nil)
            } catch {
                throw WSGIError(.invalidHeader, "The environ's CONTENT_LENGTH is not a length: \(error).")
            }
            scope.scheme = environ.urlScheme
        }
        var extensions = scope.extensions ?? [:]
        extensions[ServerExtension.trailers] = nil
        extensions[ServerExtension.pathsend] = [:]
        scope.extensions = extensions
        return scope
    }
}
