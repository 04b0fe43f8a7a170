public import ASGI

extension FormFields {
    /// The query string of a WSGI-style request (`QUERY_STRING`), parsed as
    /// ``init(urlEncoded:limits:)`` parses.
    public init(query environ: Environ, limits: FormLimits = FormLimits()) throws(FormError) {
        try self.init(urlEncoded: wsgiBytes(environ["QUERY_STRING"] ?? ""), limits: limits)
    }

    /// The query string of an ASGI request (`scope.queryString`), parsed as
    /// ``init(urlEncoded:limits:)`` parses.
    public init(query scope: HTTPScope, limits: FormLimits = FormLimits()) throws(FormError) {
        try self.init(urlEncoded: scope.queryString, limits: limits)
    }

    /// The `application/x-www-form-urlencoded` body of a WSGI-style request, read from
    /// `environ.input` (never past `CONTENT_LENGTH`, never more than `limits.maxBytes`). Blocking.
    ///
    /// - Throws: ``FormError`` `unsupportedMediaType` when `CONTENT_TYPE` is set to something
    ///   else, `bodyTooLarge`, `tooManyFields`, `truncatedBody` (fewer bytes than
    ///   `CONTENT_LENGTH`), `invalidContentLength`; or what `environ.input` throws.
    public init(form environ: Environ, limits: FormLimits = FormLimits()) throws {
        let contentType = HeaderParameters((environ["CONTENT_TYPE"] ?? "").utf8).value.lowercased()
        guard contentType.isEmpty || contentType == "application/x-www-form-urlencoded" else {
            throw FormError(.unsupportedMediaType, "The body is \(contentType), not application/x-www-form-urlencoded.")
        }
        var body = try RequestBody(environ, maxBytes: limits.maxBytes)
        try self.init(urlEncoded: try body.readAll(), limits: limits)
    }
}

extension Cookies {
    /// The cookies of a WSGI-style request (`HTTP_COOKIE`; servers join repeated `Cookie` headers
    /// with `"; "`).
    public init(environ: Environ) {
        self.init(header: wsgiBytes(environ["HTTP_COOKIE"] ?? ""))
    }

    /// The cookies of an ASGI request: every `cookie` header, in order.
    public init(scope: HTTPScope) {
        var header: [UInt8] = []
        for field in scope.headers where field.name.count == 6 && String(latin1: field.name).lowercased() == "cookie" {
            if !header.isEmpty { header += Array("; ".utf8) }
            header += field.value
        }
        self.init(header: header)
    }
}
