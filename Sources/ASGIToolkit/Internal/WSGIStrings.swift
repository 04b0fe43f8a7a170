import ASGI

/// The bytes of a WSGI "native string": PEP 3333 carries request bytes in `environ` as latin-1
/// text, one character per byte (`Environ(scope:)` builds them so). A character past U+00FF
/// cannot come from a server; if an application put one there, its UTF-8 bytes are used.
func wsgiBytes(_ text: String) -> [UInt8] {
    if let bytes = text.latin1Bytes { return bytes }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        if scalar.value < 0x100 {
            bytes.append(UInt8(scalar.value))
        } else {
            bytes.append(contentsOf: String(scalar).utf8)
        }
    }
    return bytes
}

/// A WSGI native string's bytes read as UTF-8 (U+FFFD for ill-formed sequences): what a path or
/// header means when the client sent UTF-8.
func wsgiText(_ text: String) -> String {
    if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
    return String(decoding: wsgiBytes(text), as: UTF8.self)
}
