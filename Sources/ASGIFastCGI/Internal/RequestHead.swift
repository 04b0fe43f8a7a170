import ASGI
import Glibc

/// What a FastCGI request's parameters say: the ASGI scope (built the way every server of the
/// package builds it) plus the parameters the scope has no place for.
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

    /// Parses libfcgi's `envp` (`NAME=VALUE` C strings, NULL-terminated). With `paramsInScope`,
    /// the extra parameters are also in the scope's `extensions["fastcgi"]["params"]` (for ASGI
    /// applications; WSGI-style ones get them in the environ).
    ///
    /// Path policy:
    /// - when the web server sends `PATH_INFO` (nginx `fastcgi_split_path_info`), its `SCRIPT_NAME`
    ///   is the root path and `SCRIPT_NAME` + `PATH_INFO` the path;
    /// - otherwise the path is `REQUEST_URI`'s path, percent-decoded, and the root path is
    ///   `rootPath` when the path lies under it, else empty (nginx's default `SCRIPT_NAME`, the
    ///   whole path, is not a mount point and is ignored).
    static func parse(
        _ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
        rootPath configuredRoot: String?,
        maxCount: Int,
        maxBytes: Int,
        paramsInScope: Bool = true
    ) throws(Refusal) -> RequestHead {
        var count = 0
        var total = 0
        var method = "GET"
        var requestURI: [UInt8]? = nil
        var queryString: [UInt8]? = nil
        var scriptName: [UInt8]? = nil
        var pathInfo: [UInt8]? = nil
        var documentURI: [UInt8]? = nil
        var serverProtocol = "HTTP/1.1"
        var https = false
        var requestScheme: String? = nil
        var remoteAddress: String? = nil
        var remotePort: Int? = nil
        var serverName: String? = nil
        var serverAddress: String? = nil
        var serverPort: Int? = nil
        var contentLength: Int? = nil
        var headers = ASGIHeaders()
        headers.elements.reserveCapacity(16)
        var extras: [(name: String, value: String)] = []
        extras.reserveCapacity(16)

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
            let name = UnsafeRawBufferPointer(rebasing: raw[..<equals])
            let value = UnsafeRawBufferPointer(rebasing: raw[(equals + 1)...])

            if matches(name, "HTTP_CONTENT_LENGTH") || matches(name, "HTTP_CONTENT_TYPE") {
                // nginx passes these request headers both as CONTENT_* and as HTTP_CONTENT_*; the
                // CONTENT_* parameters are authoritative, so the header is not counted twice.
            } else if name.count > 5, matchesPrefix(name, "HTTP_") {
                var header = [UInt8](repeating: 0, count: name.count - 5)
                for index in 5..<name.count {
                    let byte = name[index]
                    header[index - 5] = byte == UInt8(ascii: "_") ? UInt8(ascii: "-") : (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte)
                }
                headers.append(ASGIHeader(name: header, value: Array(value)))
            } else if matches(name, "REQUEST_METHOD") {
                method = String(decoding: value, as: UTF8.self)
            } else if matches(name, "REQUEST_URI") {
                requestURI = Array(value)
            } else if matches(name, "QUERY_STRING") {
                queryString = Array(value)
            } else if matches(name, "SCRIPT_NAME") {
                scriptName = Array(value)
            } else if matches(name, "PATH_INFO") {
                pathInfo = Array(value)
            } else if matches(name, "CONTENT_LENGTH") {
                if !value.isEmpty {
                    guard let declared = decimal(value) else { throw .invalidContentLength(String(decoding: value, as: UTF8.self)) }
                    contentLength = declared
                    headers.append(ASGIHeader(name: Array("content-length".utf8), value: Array(value)))
                }
            } else if matches(name, "CONTENT_TYPE") {
                if !value.isEmpty {
                    headers.append(ASGIHeader(name: Array("content-type".utf8), value: Array(value)))
                }
            } else if matches(name, "SERVER_PROTOCOL") {
                serverProtocol = String(decoding: value, as: UTF8.self)
            } else if matches(name, "HTTPS") {
                https = isOn(value)
            } else if matches(name, "REMOTE_ADDR") {
                remoteAddress = String(decoding: value, as: UTF8.self)
            } else if matches(name, "REMOTE_PORT") {
                remotePort = decimal(value)
            } else if matches(name, "SERVER_NAME") {
                serverName = String(decoding: value, as: UTF8.self)
            } else if matches(name, "SERVER_PORT") {
                serverPort = decimal(value)
            } else {
                let key = String(decoding: name, as: UTF8.self)
                let text = String(latin1: value)
                if matches(name, "REQUEST_SCHEME") {
                    requestScheme = text
                } else if matches(name, "DOCUMENT_URI") {
                    documentURI = Array(value)
                } else if matches(name, "SERVER_ADDR") {
                    serverAddress = text
                }
                extras.append((key, text))
            }
        }

        // The request target: REQUEST_URI as sent (absolute form reduced to its path).
        var target = requestURI ?? documentURI ?? scriptName.map { ($0) + (pathInfo ?? []) } ?? Array("/".utf8)
        if let schemeEnd = firstIndex(of: Array("://".utf8), in: target), target.first != UInt8(ascii: "/") {
            let afterAuthority = target[(schemeEnd + 3)...].firstIndex(of: UInt8(ascii: "/")) ?? target.endIndex
            target = Array(target[afterAuthority...])
            if target.isEmpty { target = Array("/".utf8) }
        }
        let questionMark = target.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = Array(target[..<(questionMark ?? target.endIndex)])
        let uriQuery = questionMark.map { Array(target[(target.index(after: $0))...]) } ?? []

        let path: String
        let rootPath: String
        if let pathInfo {
            let script = scriptName ?? []
            rootPath = String(decoding: script, as: UTF8.self)
            path = String(decoding: script + pathInfo, as: UTF8.self)
        } else {
            path = HTTPScope.decodedPath(rawPath)
            let root = configuredRoot.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? ""
            if !root.isEmpty, path == root || path.hasPrefix(root + "/") {
                rootPath = root
            } else {
                rootPath = ""
            }
        }

        let scheme = https || requestScheme == "https" ? "https" : "http"
        var httpVersion = "1.1"
        if serverProtocol.hasPrefix("HTTP/") {
            let version = serverProtocol.dropFirst(5)
            switch version {
            case "1.0", "1.1": httpVersion = String(version)
            case "2", "2.0": httpVersion = "2"
            case "3", "3.0": httpVersion = "3"
            default: httpVersion = String(version)
            }
        }
        let server = (serverName ?? serverAddress).map { ASGIAddress(host: $0, port: serverPort) }
        let client = remoteAddress.map { ASGIAddress(host: $0, port: remotePort) }
        var extensions: [String: [String: ASGIValue]]? = nil
        if paramsInScope, !extras.isEmpty {
            extensions = ["fastcgi": ["params": Dictionary(extras.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })]]
        }
        let scope = HTTPScope(
            httpVersion: httpVersion,
            method: method,
            scheme: scheme,
            path: path,
            rawPath: rawPath,
            queryString: queryString ?? uriQuery,
            rootPath: rootPath,
            headers: headers,
            client: client,
            server: server,
            extensions: extensions
        )
        return RequestHead(
            scope: scope,
            extraVariables: extras,
            contentLength: contentLength,
            requestURI: String(latin1: requestURI ?? target)
        )
    }

    /// A non-negative decimal integer (at most 18 digits), or `nil`.
    private static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func matches(_ name: UnsafeRawBufferPointer, _ key: StaticString) -> Bool {
        name.count == key.utf8CodeUnitCount && memcmp(name.baseAddress!, key.utf8Start, name.count) == 0
    }

    private static func matchesPrefix(_ name: UnsafeRawBufferPointer, _ key: StaticString) -> Bool {
        name.count >= key.utf8CodeUnitCount && memcmp(name.baseAddress!, key.utf8Start, key.utf8CodeUnitCount) == 0
    }

    /// nginx sends `HTTPS=on`; other servers `1`, `ON` or `yes`.
    private static func isOn(_ value: UnsafeRawBufferPointer) -> Bool {
        switch String(decoding: value, as: UTF8.self).lowercased() {
        case "on", "1", "yes", "true": return true
        default: return false
        }
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
