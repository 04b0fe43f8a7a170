@_spi(ASGIFrontend) public import ASGI
import AsyncAlgorithms
import AsyncBridge
import HTTPTypes
public import Hummingbird
import Logging
import NIOCore

/// A Hummingbird responder that serves requests with an ASGI application.
///
/// The scope is built by the package's one rule (``ASGI/ASGIRequestHead``, ``ASGI/RequestTarget``),
/// as every server of the package builds it: `rootPath` is the mount point (the matched route's
/// path before its `**` wildcard, enclosing groups included), `path` and `raw_path` the request's
/// own, `client` the peer when the request context is a `RemoteAddressRequestContext`, `server`
/// the `Host` the client addressed (Hummingbird's request context does not carry the local
/// address), `state` the lifespan's (``ASGILifespan``), and the `http.response.trailers` and
/// `http.response.pathsend` extensions (the file is streamed from a blocking thread).
///
/// The body streams to the application's `receive()` as it arrives, and its `http.response.body`
/// events stream to the client with back-pressure. An application's mistake never traps: a status
/// or header HTTP cannot carry is an error from `send`, and an application that fails before its
/// first body event gets the package's plain 500. Usually made by ``Hummingbird/RouterMethods/mount(_:_:lifespan:)``.
public struct ASGIResponder<Context: RequestContext>: HTTPResponder {
    /// The application.
    public let application: any ASGIApplication
    /// Where the application is mounted, when the route does not say (a fallback for methods no
    /// route names).
    public let mountPoint: String
    /// The lifespan whose state request scopes carry.
    public let lifespan: ASGILifespan?

    /// Serves requests with `application`, mounted at `mountPoint`.
    public init(application: any ASGIApplication, mountPoint: String = "", lifespan: ASGILifespan? = nil) {
        self.application = application
        self.mountPoint = RootPath.normalized(mountPoint)
        self.lifespan = lifespan
    }

    /// Runs the application for `request` and returns its response once the application has
    /// started it; the body follows as the application sends it.
    ///
    /// A path with a NUL byte or a dot-segment (`/legacy/../admin`) gets 400 without reaching the
    /// application, as on every frontend of the package (``ASGI/RequestTarget/pathProblem``).
    public func respond(to request: Request, context: Context) async throws -> Response {
        if let problem = RequestTarget(request.head.path ?? "/").pathProblem {
            context.logger.notice("Refused a request: \(problem.message)")
            return Self.plain(problem.response)
        }
        let scope = scope(for: request, context: context)
        let exchange = HummingbirdExchange(body: request.body, requestMethod: request.method.rawValue)
        let application = self.application
        let task = Task {
            do {
                try await LocalScope.run {
                    try await application(
                        scope: .http(scope),
                        receive: { try await exchange.receive() },
                        send: { try await exchange.send($0) }
                    )
                }
                exchange.applicationReturned()
            } catch {
                exchange.applicationFailed(error)
            }
        }
        let head: HummingbirdExchange.Head
        do {
            head = try await withTaskCancellationHandler {
                try await exchange.head()
            } onCancel: {
                task.cancel()
            }
        } catch {
            task.cancel()
            context.logger.error("Exception in ASGI application (\(request.method.rawValue) \(scope.path)): \(String(describing: error))")
            return Self.plain(.internalServerError)
        }
        var fields = HTTPFields()
        for header in head.headers where header.nameString != "content-length" {
            // Names and values were checked by the package's field rule when they were sent.
            if let name = HTTPField.Name(header.nameString) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        let body = exchange.body
        return Response(
            status: HTTPResponse.Status(code: head.status),
            headers: fields,
            body: ResponseBody(contentLength: head.contentLength) { writer in
                do {
                    for try await chunk in body {
                        try await writer.write(chunk)
                    }
                    var trailers: HTTPFields? = nil
                    if let trailing = exchange.trailers {
                        var fields = HTTPFields()
                        for header in trailing {
                            if let name = HTTPField.Name(header.nameString) { fields.append(HTTPField(name: name, value: header.value)) }
                        }
                        trailers = fields
                    }
                    try await writer.finish(trailers)
                    exchange.responseFinished()
                } catch {
                    exchange.clientGone()
                    task.cancel()
                    throw error
                }
            }
        )
    }

    /// The package's plain answer as a Hummingbird response.
    static func plain(_ answer: PlainResponse) -> Response {
        var fields = HTTPFields()
        for header in answer.headers where header.nameString != "content-length" {
            if let name = HTTPField.Name(header.nameString) { fields.append(HTTPField(name: name, value: header.valueString)) }
        }
        return Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }

    /// The extensions a mounted application's scopes announce.
    static var extensions: [String: [String: ASGIValue]] {
        [ServerExtension.trailers: [:], ServerExtension.pathsend: [:]]
    }

    /// The ASGI scope of a Hummingbird request.
    func scope(for request: Request, context: Context) -> HTTPScope {
        let target = RequestTarget(request.head.path ?? "/")
        var mount = mountPoint
        if let endpoint = context.endpointPath {
            mount = endpoint.hasSuffix("/**") ? String(endpoint.dropLast(3)) : endpoint
        }
        let scheme = request.head.scheme ?? "http"
        let client = (context as? any RemoteAddressRequestContext)?.remoteAddress.map(ASGIAddress.init(socketAddress:))
        return ASGIRequestHead(
            method: request.method.rawValue,
            httpVersion: "1.1",
            scheme: scheme,
            target: target,
            rootPath: RootPath.of(path: target.path, mountPoint: mount),
            headers: request.head.asgiHeaders,
            client: client,
            server: Self.server(fromHost: request.head.authority, scheme: scheme)
        ).httpScope(state: lifespan?.requestState, extensions: Self.extensions)
    }

    /// The address a client addressed, from its `Host` (the scheme's port when it names none).
    static func server(fromHost host: String?, scheme: String) -> ASGIAddress? {
        guard let host, !host.isEmpty else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let name = String(host[host.index(after: host.startIndex)..<close])
            let rest = host[host.index(after: close)...]
            return ASGIAddress(host: name, port: rest.hasPrefix(":") ? Int(rest.dropFirst()) ?? defaultPort : defaultPort)
        }
        if let colon = host.lastIndex(of: ":"), let port = Int(host[host.index(after: colon)...]) {
            return ASGIAddress(host: String(host[..<colon]), port: port)
        }
        return ASGIAddress(host: host, port: defaultPort)
    }
}
