@_spi(ASGIFrontend) import ASGI
import Glibc

/// What a FastCGI request's parameters say: the scope (read by the package's one CGI reading,
/// ``CGIRequestHead``) plus the parameters the scope has no place for.
///
/// Nothing comes from the process environment: only from the parameters the web server sent.
struct RequestHead {
    /// Why a request head was refused.
    enum Refusal: Error, Equatable {
        /// More parameters than allowed (431).
        case tooManyParams(Int)
        /// Parameters larger than allowed (431).
        case paramsTooLarge(Int)
        /// `CONTENT_LENGTH` is not a non-negative integer (400).
        case invalidContentLength(String)
        /// `CONTENT_LENGTH` is past any body (413).
        case contentLengthTooLarge(String)
        /// The decoded path holds a NUL byte or a dot-segment (400), the rule every frontend
        /// applies (`RequestTarget.pathProblem` of the protocol core).
        case badPath(RequestHeadProblem)

        /// The answer the web server gets.
        func response(maxCount: Int, maxBytes: Int) -> PlainResponse {
            switch self {
            case .tooManyParams(let count):
                return PlainResponse(status: 431, detail: "more than \(maxCount) FastCGI parameters (\(count))")
            case .paramsTooLarge(let bytes):
                return PlainResponse(status: 431, detail: "FastCGI parameters larger than \(maxBytes) bytes (\(bytes))")
            case .invalidContentLength(let value):
                return .invalidContentLength(value)
            case .contentLengthTooLarge(let value):
                return .contentLengthTooLarge(value)
            case .badPath(let problem):
                return problem.response
            }
        }
    }

    /// The scope.
    var scope: HTTPScope
    /// Parameters that are not headers and that the environ built from the scope does not set
    /// (`DOCUMENT_ROOT`, `SCRIPT_FILENAME`, `SERVER_ADDR`, custom `fastcgi_param`s…), latin-1
    /// decoded, in the order they came (a repeated name: the last one wins).
    var extraVariables: [(name: String, value: String)]
    /// The declared `CONTENT_LENGTH`, if any.
    var contentLength: Int?
    /// The request URI as sent (for the access log).
    var requestURI: String

    /// The extensions a FastCGI scope announces: `http.response.pathsend` (streamed from the file).
    static let extensions: [String: [String: ASGIValue]] = [ServerExtension.pathsend: [:]]

    /// A head for a request whose parameters were refused (for the access log).
    static let refused = RequestHead(scope: HTTPScope(), extraVariables: [], contentLength: nil, requestURI: "-")

    /// Parses libfcgi's `envp` (`NAME=VALUE` C strings, NULL-terminated), counting parameters and
    /// bytes against the limits. With `paramsInScope` (ASGI applications), the extra parameters
    /// are also in the scope's `extensions["fastcgi"]["params"]`; WSGI-style ones get them in the
    /// environ. `state` is the lifespan state copied into the scope (WSGI-style applications see it
    /// as `environ.scope?.state`).
    static func parse(
        _ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
        rootPath: String?,
        maxCount: Int,
        maxBytes: Int,
        paramsInScope: Bool = true,
        state: [String: ASGIValue]? = nil
    ) throws(Refusal) -> RequestHead {
        var count = 0
        var total = 0
        var builder = CGIRequestHead.Builder()
        var cursor = envp
        while let entry = cursor.pointee {
            cursor += 1
            count += 1
            let length = strlen(entry)
            total += length
            guard count <= maxCount else { throw .tooManyParams(count) }
            guard total <= maxBytes else { throw .paramsTooLarge(total) }
            let raw = UnsafeRawBufferPointer(start: entry, count: length)
            guard let equals = raw.firstIndex(of: UInt8(ascii: "=")) else { continue }
            do {
                try builder.add(
                    name: UnsafeRawBufferPointer(rebasing: raw[..<equals]),
                    value: UnsafeRawBufferPointer(rebasing: raw[(equals + 1)...])
                )
            } catch {
                switch error {
                case .invalidContentLength(let value): throw .invalidContentLength(value)
                case .contentLengthTooLarge(let value): throw .contentLengthTooLarge(value)
                }
            }
        }
        let cgi = builder.build(mountPoint: rootPath)
        // The web server checks Host itself; the path it may pass on as the client sent it
        // (nginx resolves dot-segments, a raw FastCGI client need not), NUL included.
        if let problem = cgi.head.target.pathProblem { throw .badPath(problem) }
        var extensions = Self.extensions
        if paramsInScope, !cgi.extraVariables.isEmpty {
            extensions["fastcgi"] = ["params": Dictionary(cgi.extraVariables.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })]
        }
        return RequestHead(
            scope: cgi.head.httpScope(state: state, extensions: extensions),
            extraVariables: cgi.extraVariables,
            contentLength: cgi.contentLength,
            requestURI: cgi.requestURI
        )
    }
}
