public import ASGI

/// A WSGI-style request read through the toolkit: method, path, headers, query, form and cookies
/// of an `Environ`, decoded once each.
///
/// ```swift
/// let app = WSGIApp { environ, startResponse in
///     let request = WSGIRequest(environ)
///     guard request.method == "POST" else { return try WSGIResponse.text("Use POST.", status: 405)(startResponse) }
///     let name = try request.form()["name"] ?? "stranger"
///     return try WSGIResponse.html("<h1>Hello, \(HTML.escape(name))!</h1>")(startResponse)
/// }
/// ```
///
/// The form is read from `environ.input` the first time ``form()`` (or ``files()``) is called and
/// kept, so asking twice reads the body once. A request belongs to the thread handling it: it is
/// not `Sendable`.
public final class WSGIRequest {
    /// The environment it reads.
    public let environ: Environ
    /// Bounds on the query string and a urlencoded body.
    public let formLimits: FormLimits
    /// Bounds on a multipart body.
    public let multipartLimits: MultipartLimits
    private var parsedForm: MultipartForm?

    /// A request over `environ`.
    public init(_ environ: Environ, formLimits: FormLimits = FormLimits(), multipartLimits: MultipartLimits = MultipartLimits()) {
        self.environ = environ
        self.formLimits = formLimits
        self.multipartLimits = multipartLimits
    }

    /// `REQUEST_METHOD` (`"GET"` when missing).
    public var method: String { environ["REQUEST_METHOD"] ?? "GET" }

    /// `PATH_INFO` read as UTF-8 (`"/"` when empty): the path below where the application is mounted.
    public var path: String {
        let path = wsgiText(environ["PATH_INFO"] ?? "")
        return path.isEmpty ? "/" : path
    }

    /// `SCRIPT_NAME` read as UTF-8: where the application is mounted (`""` at the root).
    public var scriptName: String { wsgiText(environ["SCRIPT_NAME"] ?? "") }

    /// The value of request header `name` (any case; `HTTP_*`, `CONTENT_TYPE`, `CONTENT_LENGTH`),
    /// read as UTF-8.
    public func header(_ name: String) -> String? {
        var key = ""
        for scalar in name.unicodeScalars {
            key.unicodeScalars.append(scalar == "-" ? "_" : (scalar >= "a" && scalar <= "z" ? Unicode.Scalar(scalar.value - 32)! : scalar))
        }
        if key == "CONTENT_TYPE" || key == "CONTENT_LENGTH" { return environ[key].map(wsgiText) }
        return environ["HTTP_" + key].map(wsgiText)
    }

    /// The query string's fields.
    public func query() throws(FormError) -> FormFields {
        try FormFields(query: environ, limits: formLimits)
    }

    /// The cookies the client sent.
    public var cookies: Cookies { Cookies(environ: environ) }

    /// The form fields of the body: an `application/x-www-form-urlencoded` body, or the non-file
    /// parts of a `multipart/form-data` one; empty for other bodies (JSON, none), as werkzeug's
    /// `request.form`. Read once (blocking), then kept.
    /// - Throws: ``FormError`` at a limit or for a malformed or truncated body; what
    ///   `environ.input` throws when the client goes away.
    public func form() throws -> FormFields {
        try parsed().fields
    }

    /// The files of a `multipart/form-data` body (empty for other bodies). Read once, then kept.
    public func files() throws -> [UploadedFile] {
        try parsed().files
    }

    private func parsed() throws -> MultipartForm {
        if let parsedForm { return parsedForm }
        let type = HeaderParameters((environ["CONTENT_TYPE"] ?? "").utf8).value.lowercased()
        let form: MultipartForm
        switch type {
        case "application/x-www-form-urlencoded":
            form = MultipartForm(fields: try FormFields(form: environ, limits: formLimits))
        case "multipart/form-data":
            form = try MultipartForm(environ: environ, limits: multipartLimits)
        default:
            form = MultipartForm()
        }
        parsedForm = form
        return form
    }
}
