/// The headers of one part of a `multipart/form-data` body (RFC 7578 §4).
public struct MultipartPartHead: Sendable, Hashable {
    /// The form field's name: the `name` parameter of `Content-Disposition` (RFC 7578 §4.2).
    public var name: String
    /// The file name the client gave (the `filename` parameter, or `filename*` of RFC 8187), or
    /// `nil` when the part is not a file. Never use it as a path: it is whatever the client sent.
    public var filename: String?
    /// The part's `Content-Type`, if it has one (RFC 7578 §4.4: `text/plain` when absent).
    public var contentType: String?
    /// Every header of the part in order, names as sent, values read as UTF-8.
    public var headers: [MultipartHeader]

    /// Creates a part head.
    public init(name: String, filename: String? = nil, contentType: String? = nil, headers: [MultipartHeader] = []) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
    }

    /// Whether the part is a file (it has a `filename`, even an empty one, as werkzeug decides).
    public var isFile: Bool { filename != nil }

    /// The first value of header `name` (compared without regard to ASCII case).
    public func header(_ name: String) -> String? {
        let key = name.lowercased()
        return headers.first { $0.name.lowercased() == key }?.value
    }
}

/// One header of a multipart part.
public struct MultipartHeader: Sendable, Hashable {
    /// The name as sent.
    public var name: String
    /// The value, trimmed, folded lines joined with a space.
    public var value: String

    /// Creates a header.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
