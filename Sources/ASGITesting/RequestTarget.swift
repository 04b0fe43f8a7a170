@_spi(ASGIFrontend) import ASGI

extension RequestTarget {
    /// The target a test client sends for `target`: characters a client would have to escape
    /// (spaces, controls, non-ASCII) percent-encoded first, existing escapes kept, then split and
    /// decoded by the package's one rule. An explicit `queryString` replaces the one in `target`.
    init(testTarget target: String, queryString: String?) {
        self.init(Self.escape(target.utf8))
        if let queryString { self.queryString = Self.escape(queryString.utf8) }
    }

    /// Percent-encodes the bytes a request line cannot carry as they are.
    static func escape(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var escaped: [UInt8] = []
        for byte in bytes {
            if byte <= 0x20 || byte >= 0x7F {
                escaped += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            } else {
                escaped.append(byte)
            }
        }
        return escaped
    }
}
