#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request head read from CGI variables: the FastCGI parameters a web server sends, or the
/// environ a blocking server hands ``ASGIToWSGI``. One reading for both, so an ASGI application
/// sees the same scope whichever of them serves it.
///
/// - `HTTP_*` variables are the headers (`HTTP_X_TOKEN` → `x-token`); `CONTENT_TYPE` and
///   `CONTENT_LENGTH` are `content-type` / `content-length` (nginx also sends them as
///   `HTTP_CONTENT_*`: those copies are skipped).
/// - The target is `REQUEST_URI` as sent (absolute form reduced to its path, see
///   ``RequestTarget``); `QUERY_STRING` wins for the query when it is given.
/// - Path: when the web server splits the path (`PATH_INFO` given), its `SCRIPT_NAME` is the root
///   path and `SCRIPT_NAME` + `PATH_INFO` (both already decoded) the path. Otherwise the path is the
///   decoded target path, and the root path is the configured mount point when the path lies
///   under it (a web server's default `SCRIPT_NAME`, the whole path, is not a mount point).
/// - `HTTPS` (`on`, `1`, `yes`, `true`) or `REQUEST_SCHEME=https` make the scheme `https`;
///   `SERVER_PROTOCOL` gives the HTTP version; `REMOTE_ADDR`/`REMOTE_PORT` the client;
///   `SERVER_NAME` (else `SERVER_ADDR`) and `SERVER_PORT` the server.
/// - Every other variable is kept in ``extraVariables`` (`DOCUMENT_ROOT`, custom parameters…).
@_spi(ASGIFrontend) public struct CGIRequestHead: Sendable {
    /// Why the variables cannot make a request.
    public enum Refusal: Error, Hashable {
        /// `CONTENT_LENGTH` is not a decimal number (400).
        case invalidContentLength(String)
        /// `CONTENT_LENGTH` is past what any body may be (413).
        case contentLengthTooLarge(String)
    }

    /// The neutral head.
    public var head: ASGIRequestHead
    /// The variables a scope has no place for, latin-1 decoded, in the order they came.
    public var extraVariables: [(name: String, value: String)]
    /// The declared `CONTENT_LENGTH`, if any.
    public var contentLength: Int?
    /// The request target as sent, for logs.
    public var requestURI: String

    /// Collects variables one at a time (no copy of the web server's buffers for the ones that are
    /// skipped), then builds the head.
    public struct Builder {
        private var method = "GET"
        private var requestURI: [UInt8]?
        private var queryString: [UInt8]?
        private var scriptName: [UInt8]?
        private var pathInfo: [UInt8]?
        private var serverProtocol = "HTTP/1.1"
        private var https = false
        private var requestScheme: String?
        private var remoteAddress: String?
        private var remotePort: Int?
        private var serverName: String?
        private var serverAddress: String?
        private var serverPort: Int?
        private var contentLength: Int?
        private var headers = ASGIHeaders()
        private var extras: [(name: String, value: String)] = []

        /// An empty builder: no variables yet.
        public init() {
            headers.elements.reserveCapacity(16)
            extras.reserveCapacity(16)
        }

        /// Adds one variable.
        /// - Throws: ``Refusal`` for a `CONTENT_LENGTH` that is not a length.
        public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(Refusal) {
            if name.count > 5, Self.matchesPrefix(name, "HTTP_") {
                if Self.matches(name, "HTTP_CONTENT_LENGTH") || Self.matches(name, "HTTP_CONTENT_TYPE") { return }
                var header = [UInt8](repeating: 0, count: name.count - 5)
                for index in 5..<name.count {
                    let byte = name[index]
                    header[index - 5] = byte == UInt8(ascii: "_") ? UInt8(ascii: "-") : (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte)
                }
                headers.append(ASGIHeader(name: header, value: Array(value)))
            } else if Self.matches(name, "REQUEST_METHOD") {
                method = String(decoding: value, as: UTF8.self)
            } else if Self.matches(name, "REQUEST_URI") {
                requestURI = Array(value)
            } else if Self.matches(name, "QUERY_STRING") {
                queryString = Array(value)
            } else if Self.matches(name, "SCRIPT_NAME") {
                scriptName = Array(value)
            } else if Self.matches(name, "PATH_INFO") {
                pathInfo = Array(value)
            } else if Self.matches(name, "CONTENT_LENGTH") {
                guard !value.isEmpty else { return }
                switch ContentLength.parse(value) {
                case .length(let length): contentLength = length
                case .malformed: throw .invalidContentLength(String(latin1: value))
                case .tooLarge: throw .contentLengthTooLarge(String(latin1: value))
                }
                headers.append(ASGIHeader(name: Array("content-length".utf8), value: Array(value)))
            } else if Self.matches(name, "CONTENT_TYPE") {
                if !value.isEmpty { headers.append(ASGIHeader(name: Array("content-type".utf8), value: Array(value))) }
            } else if Self.matches(name, "SERVER_PROTOCOL") {
                serverProtocol = String(decoding: value, as: UTF8.self)
            } else if Self.matches(name, "HTTPS") {
                https = Self.isOn(value)
            } else if Self.matches(name, "REMOTE_ADDR") {
                remoteAddress = String(decoding: value, as: UTF8.self)
            } else if Self.matches(name, "REMOTE_PORT") {
                remotePort = ContentLength.value(value)
            } else if Self.matches(name, "SERVER_NAME") {
                serverName = String(decoding: value, as: UTF8.self)
            } else if Self.matches(name, "SERVER_PORT") {
                serverPort = ContentLength.value(value)
            } else {
                let text = String(latin1: value)
                if Self.matches(name, "REQUEST_SCHEME") {
                    requestScheme = text
                } else if Self.matches(name, "SERVER_ADDR") {
                    serverAddress = text
                }
                extras.append((String(latin1: name), text))
            }
        }

        /// Adds one variable given as text (an environ's: latin-1, as PEP 3333 has it).
        public mutating func add(name: String, value: String) throws(Refusal) {
            let nameBytes = name.latin1Bytes ?? Array(name.utf8)
            let valueBytes = value.latin1Bytes ?? Array(value.utf8)
            var refusal: Refusal?
            nameBytes.withUnsafeBytes { name in
                valueBytes.withUnsafeBytes { value in
                    do throws(Refusal) { try add(name: name, value: value) } catch { refusal = error }
                }
            }
            if let refusal { throw refusal }
        }

        /// The head, with `mountPoint` as the root path when the web server did not split the path.
        public func build(mountPoint: String?) -> CGIRequestHead {
            var target: RequestTarget
            if let requestURI {
                target = RequestTarget(requestURI)
            } else {
                // No target as sent: the one the split path would have had.
                target = RequestTarget(percentEncodePath(String(decoding: (scriptName ?? []) + (pathInfo ?? []), as: UTF8.self)))
            }
            // The fragment rule of ``RequestTarget`` holds for a query given apart too.
            if let queryString { target.queryString = Array(queryString.prefix { $0 != UInt8(ascii: "#") }) }
            let rootPath: String
            if let pathInfo {
                let script = scriptName ?? []
                rootPath = String(decoding: script, as: UTF8.self)
                target.path = String(decoding: script + pathInfo, as: UTF8.self)
            } else {
                rootPath = mountPoint.map { RootPath.of(path: target.path, mountPoint: $0) } ?? ""
            }
            let head = ASGIRequestHead(
                method: method,
                httpVersion: ASGIRequestHead.httpVersion(serverProtocol: serverProtocol),
                scheme: https || requestScheme == "https" ? "https" : "http",
                target: target,
                rootPath: rootPath,
                headers: headers,
                client: remoteAddress.map { ASGIAddress(host: $0, port: remotePort) },
                server: (serverName ?? serverAddress).map { ASGIAddress(host: $0, port: serverPort) }
            )
            return CGIRequestHead(
                head: head,
                extraVariables: extras,
                contentLength: contentLength,
                requestURI: requestURI.map { String(latin1: $0) } ?? String(latin1: target.rawPath)
            )
        }

        private static func matches(_ name: UnsafeRawBufferPointer, _ key: StaticString) -> Bool {
            name.count == key.utf8CodeUnitCount && memcmp(name.baseAddress!, key.utf8Start, name.count) == 0
        }

        private static func matchesPrefix(_ name: UnsafeRawBufferPointer, _ key: StaticString) -> Bool {
            name.count >= key.utf8CodeUnitCount && memcmp(name.baseAddress!, key.utf8Start, key.utf8CodeUnitCount) == 0
        }

        /// nginx sends `HTTPS=on`; other servers `1`, `ON`, `yes` or `true`.
        private static func isOn(_ value: UnsafeRawBufferPointer) -> Bool {
            switch String(decoding: value, as: UTF8.self).lowercased() {
            case "on", "1", "yes", "true": return true
            default: return false
            }
        }
    }

    /// Reads the variables of an environ (``ASGIToWSGI`` under a blocking server without a scope).
    /// - Throws: ``Refusal`` for a `CONTENT_LENGTH` that is not a length.
    public static func parse(_ variables: [String: String], mountPoint: String? = nil) throws(Refusal) -> CGIRequestHead {
        var builder = Builder()
        // Sorted, so headers come in one order whatever the dictionary's.
        for (name, value) in variables.sorted(by: { $0.key < $1.key }) {
            try builder.add(name: name, value: value)
        }
        return builder.build(mountPoint: mountPoint)
    }
}
