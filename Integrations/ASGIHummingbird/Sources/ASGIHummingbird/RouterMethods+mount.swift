@_spi(ASGIFrontend) public import ASGI
import HTTPTypes
public import Hummingbird

/// The methods a mount routes: every method of IANA's HTTP Method Registry.
let registeredMethods: [HTTPRequest.Method] =
    [
        .get, .head, .post, .put, .delete, .connect, .options, .trace, .patch,
    ]
    + [
        "ACL", "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "COPY", "LABEL", "LINK", "LOCK",
        "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MKREDIRECTREF", "MKWORKSPACE", "MOVE",
        "ORDERPATCH", "PROPFIND", "PROPPATCH", "QUERY", "REBIND", "REPORT", "SEARCH", "UNBIND",
        "UNCHECKOUT", "UNLINK", "UNLOCK", "UPDATE", "UPDATEREDIRECTREF", "VERSION-CONTROL",
    ].compactMap { HTTPRequest.Method($0) }

extension RouterMethods {
    /// Serves every request under `path` with an ASGI application, beside this router's native
    /// routes.
    ///
    /// Requests for `path` itself and anything below it reach `application` with `rootPath` set to
    /// the mount point (including any enclosing group's prefix), so a WSGI-style application sees
    /// `SCRIPT_NAME = /legacy` and `PATH_INFO = /rest`. Other routes are untouched. Every method of
    /// IANA's registry is routed; mounted on a `Router` itself, any other method too.
    ///
    /// ```swift
    /// let router = Router()
    /// router.get("/health") { _, _ in "ok" }
    /// router.mount("/legacy", WSGIToASGI(legacyApp))
    /// ```
    @discardableResult
    public func mount(_ path: String, _ application: any ASGIApplication, lifespan: ASGILifespan? = nil) -> Self {
        let base = RootPath.normalized(path)
        let responder = ASGIResponder<Context>(application: application, mountPoint: base, lifespan: lifespan)
        for method in registeredMethods {
            on(RouterPath(base.isEmpty ? "/" : base), method: method, responder: responder)
            on(RouterPath(base + "/**"), method: method, responder: responder)
        }
        if let router = self as? Router<Context> {
            router.add(middleware: UnroutedMethodMiddleware(mountPoint: base, responder: responder))
        }
        return self
    }
}

/// Sends requests under a mount point whose method no route names (an extension method) to the
/// mounted application; everything else goes on.
struct UnroutedMethodMiddleware<Context: RequestContext>: RouterMiddleware {
    let mountPoint: String
    let responder: ASGIResponder<Context>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !registeredMethods.contains(request.method), RootPath.contains(request.uri.path, under: mountPoint) else {
            return try await next(request, context)
        }
        return try await responder.respond(to: request, context: context)
    }
}
