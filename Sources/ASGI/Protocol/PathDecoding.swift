extension HTTPScope {
    /// The scope's `path` for a raw request path, as a server fills it in: `%XX` escapes decoded
    /// (a `%` not followed by two hexadecimal digits stays as it is), then the bytes read as UTF-8,
    /// with invalid sequences replaced by U+FFFD (as uvicorn's `unquote` does).
    ///
    /// For servers and adapters that build scopes; `rawPath` keeps the bytes as they came.
    ///
    /// ```swift
    /// HTTPScope.decodedPath(Array("/caf%C3%A9%20menu".utf8))   // "/café menu"
    /// ```
    public static func decodedPath(_ rawPath: some Collection<UInt8>) -> String {
        String(decoding: percentDecoded(rawPath), as: UTF8.self)
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hexadecimal digits stays as it is.
package func percentDecoded(_ bytes: some Collection<UInt8>) -> [UInt8] {
    guard bytes.contains(UInt8(ascii: "%")) else { return Array(bytes) }
    var decoded: [UInt8] = []
    decoded.reserveCapacity(bytes.count)
    var index = bytes.startIndex
    while index != bytes.endIndex {
        let byte = bytes[index]
        if byte == UInt8(ascii: "%") {
            let first = bytes.index(after: index)
            if first != bytes.endIndex, let high = hexDigitValue(bytes[first]) {
                let second = bytes.index(after: first)
                if second != bytes.endIndex, let low = hexDigitValue(bytes[second]) {
                    decoded.append(high << 4 | low)
                    index = bytes.index(after: second)
                    continue
                }
            }
        }
        decoded.append(byte)
        index = bytes.index(after: index)
    }
    return decoded
}

private func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
