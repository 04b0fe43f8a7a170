/// One header as ASGI carries it: raw bytes, name and value untouched.
public struct ASGIHeader: Sendable, Hashable {
    /// The header name's bytes (ASGI asks for lower case; servers keep what they were given).
    public var name: [UInt8]
    /// The header value's bytes.
    public var value: [UInt8]

    /// Creates a header from raw bytes.
    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }

    /// Creates a header from strings: the name lower-cased, both encoded as UTF-8.
    public init(_ name: String, _ value: String) {
        self.name = Array(name.lowercased().utf8)
        self.value = Array(value.utf8)
    }

    /// The name as a string (latin-1 decoded, so every byte maps to one character).
    public var nameString: String { String(latin1: name) }
    /// The value as a string (latin-1 decoded, so every byte maps to one character).
    public var valueString: String { String(latin1: value) }
}

/// The headers of a scope or event: order, repeated names and raw bytes preserved exactly.
///
/// ```swift
/// let headers: ASGIHeaders = [("content-type", "text/plain"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]
/// headers["Content-Type"]            // "text/plain"
/// headers.values(for: "set-cookie")  // ["a=1", "b=2"]
/// ```
public struct ASGIHeaders: Sendable, Hashable, RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral {
    /// The headers in order.
    public var elements: [ASGIHeader]

    /// Creates headers from raw ones.
    public init(_ elements: [ASGIHeader] = []) {
        self.elements = elements
    }

    /// Creates headers from string pairs (names lower-cased, UTF-8).
    public init(arrayLiteral pairs: (String, String)...) {
        self.elements = pairs.map { ASGIHeader($0.0, $0.1) }
    }

    public var startIndex: Int { elements.startIndex }
    public var endIndex: Int { elements.endIndex }
    public subscript(position: Int) -> ASGIHeader {
        get { elements[position] }
        set { elements[position] = newValue }
    }

    /// Appends a header.
    public mutating func append(_ header: ASGIHeader) {
        elements.append(header)
    }

    /// Appends a header given as strings.
    public mutating func append(_ name: String, _ value: String) {
        elements.append(ASGIHeader(name, value))
    }

    /// The first value for `name` (compared without regard to ASCII case), latin-1 decoded.
    public subscript(name: String) -> String? {
        let key = Array(name.utf8)
        return elements.first { asciiCaseInsensitiveEquals($0.name, key) }.map(\.valueString)
    }

    /// Every value for `name` (compared without regard to ASCII case), in order, latin-1 decoded.
    public func values(for name: String) -> [String] {
        let key = Array(name.utf8)
        return elements.filter { asciiCaseInsensitiveEquals($0.name, key) }.map(\.valueString)
    }
}

/// Compares two byte strings, ignoring ASCII case.
@inlinable
func asciiCaseInsensitiveEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    for (x, y) in zip(a, b) where x != y {
        let lx = (x >= 0x41 && x <= 0x5A) ? x | 0x20 : x
        let ly = (y >= 0x41 && y <= 0x5A) ? y | 0x20 : y
        if lx != ly { return false }
    }
    return true
}

extension String {
    /// Decodes bytes as ISO-8859-1 (latin-1): each byte becomes the character with that code point.
    public init(latin1 bytes: some Sequence<UInt8>) {
        // ASCII (the common case) is the same in latin-1 and UTF-8: decode it in one go.
        if let ascii = bytes.withContiguousStorageIfAvailable({ buffer -> String? in
            buffer.allSatisfy { $0 < 0x80 } ? String(decoding: buffer, as: UTF8.self) : nil
        }), let ascii {
            self = ascii
            return
        }
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(byte)) }
        self.init(scalars)
    }

    /// Encodes as ISO-8859-1 (latin-1); `nil` if a character is outside latin-1.
    public var latin1Bytes: [UInt8]? {
        var ascii = true
        for byte in utf8 where byte >= 0x80 {
            ascii = false
            break
        }
        if ascii { return Array(utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(unicodeScalars.count)
        for scalar in unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            bytes.append(UInt8(scalar.value))
        }
        return bytes
    }
}
