import ASGI
import AsyncAlgorithms
import AsyncBridge
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A Hummingbird responder that serves requests with an ASGI application.
///
/// The request becomes an HTTP scope whose `rootPath` is the mount point (the part of the matched
/// route before its `**` wildcard), its body streams to the application's `receive()` as it arrives,
/// and the application's `http.response.body` events stream to the client with back-pressure: a
/// `send` returns once Hummingbird has taken the chunk. Usually made by
/// ``Hummingbird/RouterMethods/mount(_:_:)``.
public struct ASGIResponder<Context: RequestContext>: HTTPResponder {
    /// The application.
    public let application: any ASGIApplication

    /// Serves requests with `application`.
    public init(application: any ASGIApplication) {
        self.application = application
    }

    /// Runs the application for `request` and returns its response once the application has
    /// started it; the body follows as the application sends it.
    public func respond(to request: Request, context: Context) async throws -> Response {
        let scope = Self.scope(for: request, context: context)
        let exchange = HummingbirdExchange(body: request.body)
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
        let head = try await withTaskCancellationHandler {
            try await exchange.head()
        } onCancel: {
            task.cancel()
        }
        var fields = HTTPFields()
        for header in head.headers {
            guard let name = HTTPField.Name(header.nameString) else {
                task.cancel()
                throw ASGIProtocolError("Response header name '\(header.nameString)' is not valid HTTP.")
            }
            fields.append(HTTPField(name: name, value: header.value))
        }
        let contentLength = head.headers["content-length"].flatMap { Int($0) }
        let body = exchange.body
        return Response(
            status: HTTPResponse.Status(code: head.status),
            headers: fields,
            body: ResponseBody(contentLength: contentLength) { writer in
                do {
                    for try await chunk in body {
                        try await writer.write(chunk)
                    }
                    var trailers: HTTPFields? = nil
                    if let trailing = exchange.trailers {
                        var fields = HTTPFields()
                        for header in trailing {
                            if let name = HTTPField.Name(header.nameString) {
                                fields.append(HTTPField(name: name, value: header.value))
                            }
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

    /// The ASGI scope of a Hummingbird request.
    static func scope(for request: Request, context: Context) -> HTTPScope {
        var headers = ASGIHeaders()
        for field in request.headers {
            headers.append(ASGIHeader(name: Array(field.name.canonicalName.utf8), value: Array(field.value.utf8)))
        }
        let rawPath = request.uri.path
        let path = HTTPScope.decodedPath(Array(rawPath.utf8))
        var rootPath = ""
        if let endpoint = context.endpointPath {
            rootPath = endpoint.hasSuffix("/**") ? String(endpoint.dropLast(3)) : endpoint
        }
        if rootPath == "/" { rootPath = "" }
        var client: ASGIAddress? = nil
        if let remote = (context as? any RemoteAddressRequestContext)?.remoteAddress {
            client = ASGIAddress(host: remote.ipAddress ?? remote.description, port: remote.port)
        }
        return HTTPScope(
            httpVersion: "1.1",
            method: request.method.rawValue,
            scheme: request.head.scheme ?? "http",
            path: path,
            rawPath: Array(rawPath.utf8),
            queryString: Array((request.uri.query ?? "").utf8),
            rootPath: rootPath,
            headers: headers,
            client: client
        )
    }
}
