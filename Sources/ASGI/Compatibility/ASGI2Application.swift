/// An ASGI 2 ("double callable") application: called with the scope, it returns an instance that
/// is then called with the event channels.
public protocol ASGI2Application: Sendable {
    /// Makes the instance that serves the connection described by `scope`.
    func instance(for scope: Scope) -> any ASGI2Instance
}

/// The per-connection instance of an ``ASGI2Application``.
public protocol ASGI2Instance: Sendable {
    /// Serves the connection.
    func callAsFunction(receive: @escaping Receive, send: @escaping Send) async throws
}

/// Whether `app` is an ASGI 2 (double-callable) application.
public func isDoubleCallable(_ app: Any) -> Bool {
    app is any ASGI2Application
}

/// Adapts an ASGI 2 application to the ASGI 3 single-callable interface.
public func doubleToSingleCallable(_ app: any ASGI2Application) -> any ASGIApplication {
    DoubleToSingleCallable(app: app)
}

/// An ASGI 3 application, whatever was given: ASGI 2 applications are adapted.
public func guaranteeSingleCallable(_ app: any ASGI2Application) -> any ASGIApplication {
    doubleToSingleCallable(app)
}

/// An ASGI 3 application, whatever was given: an ASGI 3 application is returned unchanged.
public func guaranteeSingleCallable(_ app: any ASGIApplication) -> any ASGIApplication {
    app
}

/// Calls an ASGI 2 application the ASGI 3 way.
struct DoubleToSingleCallable: ASGIApplication {
    let app: any ASGI2Application

    func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        try await app.instance(for: scope)(receive: receive, send: send)
    }
}
