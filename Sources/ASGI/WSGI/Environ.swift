public import Logging

/// The CGI-style environment of one request (PEP 3333's `environ`).
///
/// The string variables (`REQUEST_METHOD`, `PATH_INFO`, `HTTP_*`…) are read and written with the
/// subscript; the `wsgi.*` entries are properties. Built the same way whichever server the request
/// came through, so one application sees one environment.
///
/// ```swift
/// let path = environ["PATH_INFO"] ?? "/"
/// let agent = environ["HTTP_USER_AGENT"]
/// let body = try environ.input.read()
/// ```
public struct Environ: Sendable {
    /// The CGI variables.
    public var variables: [String: String]
    /// The request body (`wsgi.input`).
    public var input: WSGIInput
    /// The error stream, to the log (`wsgi.errors`).
    public var errors: WSGIErrors
    /// `"http"` or `"https"` (`wsgi.url_scheme`).
    public var urlScheme: String
    /// Whether other threads may run the application at the same time (`wsgi.multithread`).
    public var multithread: Bool
    /// Whether other processes may run the application at the same time (`wsgi.multiprocess`).
    public var multiprocess: Bool
    /// Whether the application runs once in this process (`wsgi.run_once`).
    public var runOnce: Bool
    /// The ASGI scope the environment was built from, when there is one (like `asgi.scope`).
    public var scope: HTTPScope?
    /// Values middleware and servers add beside the CGI variables (what a Python environ holds
    /// under keys such as `myapp.user`), by key.
    public var values: [String: any Sendable] = [:]
    /// What the server running the application offers this package's adapters beyond PEP 3333.
    package var serverHooks: WSGIServerHooks?

    /// Creates an environment from variables.
    public init(
        variables: [String: String],
        input: WSGIInput = WSGIInput(bytes: []),
        errors: WSGIErrors = WSGIErrors(logger: Logger(label: "asgi.wsgi.errors")),
        urlScheme: String = "http",
        multithread: Bool = true,
        multiprocess: Bool = true,
        runOnce: Bool = false,
        scope: HTTPScope? = nil
    ) {
        self.variables = variables
        self.input = input
        self.errors = errors
        self.urlScheme = urlScheme
        self.multithread = multithread
        self.multiprocess = multiprocess
        self.runOnce = runOnce
        self.scope = scope
    }

    /// A CGI variable.
    public subscript(key: String) -> String? {
        get { variables[key] }
        set { variables[key] = newValue }
    }

    /// `wsgi.version`: (1, 0).
    public var version: (Int, Int) { (1, 0) }
}

extension Environ {
    /// Builds the environment of an HTTP request the way every server of this package does.
    ///
    /// - `SCRIPT_NAME` is the root path and `PATH_INFO` the rest of the path (both UTF-8 bytes
    ///   read as latin-1, as PEP 3333 asks); `QUERY_STRING` is the raw query.
    /// - Each header becomes `HTTP_<NAME>`; `Content-Type` and `Content-Length` become
    ///   `CONTENT_TYPE` / `CONTENT_LENGTH`. Headers whose name contains `_` are dropped, so
    ///   `x_user` cannot pose as `x-user`. Repeated `Cookie` headers are joined with `"; "`,
    ///   others with `","`.
    /// - Throws: ``WSGIError`` `tooManyDuplicateHeaders` when one variable would get more than
    ///   `duplicateHeaderLimit` values (`nil` or 0: no limit).
    public init(
        scope: HTTPScope,
        input: WSGIInput,
        errors: WSGIErrors,
        duplicateHeaderLimit: Int? = ServerDefaults.duplicateHeaderLimit
    ) throws {
        var variables: [String: String] = [:]
        variables.reserveCapacity(14 + scope.headers.count)
        variables["REQUEST_METHOD"] = scope.method
        let scriptName = String(latin1: scope.rootPath.utf8)
        var pathInfo = String(latin1: scope.path.utf8)
        if !scriptName.isEmpty, RootPath.contains(pathInfo, under: scriptName) {
            pathInfo = String(pathInfo.dropFirst(scriptName.count))
        }
        variables["SCRIPT_NAME"] = scriptName
        variables["PATH_INFO"] = pathInfo
        variables["QUERY_STRING"] = String(latin1: scope.queryString)
        var requestURI = scope.rawPath.map { String(latin1: $0) } ?? percentEncodePath(scope.path)
        if !scope.queryString.isEmpty { requestURI += "?" + String(latin1: scope.queryString) }
        variables["REQUEST_URI"] = requestURI
        variables["SERVER_PROTOCOL"] = "HTTP/\(scope.httpVersion)"
        let defaultPort = scope.scheme == "https" ? "443" : "80"
        variables["SERVER_NAME"] = scope.server?.host ?? "localhost"
        variables["SERVER_PORT"] = scope.server.map { $0.port.map(String.init) ?? "0" } ?? defaultPort
        if let client = scope.client {
            variables["REMOTE_ADDR"] = client.host
            if let port = client.port { variables["REMOTE_PORT"] = String(port) }
        }
        if scope.scheme == "https" { variables["HTTPS"] = "on" }

        var counts: [String: Int] = [:]
        for header in scope.headers {
            guard !header.name.contains(0x5F) else { continue }  // "_"
            let key = Self.variableName(forHeader: header.name)
            let value = String(latin1: header.value)
            if let existing = variables[key] {
                let count = counts[key, default: 1] + 1
                counts[key] = count
                if let limit = duplicateHeaderLimit, limit > 0, count > limit {
                    throw WSGIError(.tooManyDuplicateHeaders, "Too many duplicate headers: \(key) exceeds the limit of \(limit).")
                }
                variables[key] = existing + (key == "HTTP_COOKIE" ? "; " : ",") + value
            } else {
                variables[key] = value
            }
        }
        self.init(
            variables: variables,
            input: input,
            errors: errors,
            urlScheme: scope.scheme,
            multithread: true,
            multiprocess: true,
            runOnce: false,
            scope: scope
        )
    }
}

extension Environ {
    /// `CONTENT_TYPE`, `CONTENT_LENGTH`, or `HTTP_` + the name upper-cased with `-` as `_`.
    static func variableName(forHeader name: [UInt8]) -> String {
        if name.count == 12, asciiCaseInsensitiveEquals(name, contentTypeName) { return "CONTENT_TYPE" }
        if name.count == 14, asciiCaseInsensitiveEquals(name, contentLengthName) { return "CONTENT_LENGTH" }
        guard name.allSatisfy({ $0 < 0x80 }) else {
            // Not ASCII: latin-1, byte by byte.
            var key = Array("HTTP_".utf8)
            for byte in name { key.append(Self.variableByte(byte)) }
            return String(latin1: key)
        }
        // Written straight into the string's storage (no allocation up to 15 bytes).
        return String(unsafeUninitializedCapacity: 5 + name.count) { buffer in
            for (index, byte) in "HTTP_".utf8.enumerated() { buffer[index] = byte }
            for (index, byte) in name.enumerated() { buffer[5 + index] = Self.variableByte(byte) }
            return 5 + name.count
        }
    }

    private static let contentTypeName = Array("content-type".utf8)
    private static let contentLengthName = Array("content-length".utf8)

    /// A header name's byte as it appears in its variable name: upper case, `-` as `_`.
    @inline(__always) private static func variableByte(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - 0x20
        case UInt8(ascii: "-"): return UInt8(ascii: "_")
        default: return byte
        }
    }
}

/// Percent-encodes a decoded path for `REQUEST_URI` when the raw path is unknown.
func percentEncodePath(_ path: String) -> String {
    var encoded = ""
    for byte in path.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "/"), UInt8(ascii: "-"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            encoded.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            encoded += "%"
            encoded.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
            encoded.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
        }
    }
    return encoded
}
