import ASGI
import HTTPTypes
import Hummingbird

extension RouterMethods {
    /// Serves every request under `path` with an ASGI application, beside this router's native
    /// routes.
    ///
    /// Requests for `path` itself and anything below it reach `application` with `rootPath` set to
    /// the mount point (including any enclosing group's prefix), so a WSGI-style application sees
    /// `SCRIPT_NAME = /legacy` and `PATH_INFO = /rest`. Other routes are untouched. Every standard
    /// method is routed (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS).
    ///
    /// ```swift
    /// let router = Router()
    /// router.get("/health") { _, _ in "ok" }
    /// router.mount("/legacy", WSGIToASGI(legacyApp))
    /// ```
    @discardableResult
    public func mount(_ path: String, _ application: any ASGIApplication) -> Self {
        let responder = ASGIResponder<Context>(application: application)
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        for method in methods {
            on(RouterPath(base.isEmpty ? "/" : base), method: method, responder: responder)
            on(RouterPath(base + "/**"), method: method, responder: responder)
        }
        return self
    }
}
