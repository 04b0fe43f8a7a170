/// The body a WSGI-style application returns: chunks pulled one at a time, then `close()`.
///
/// The server pulls chunks with ``next()`` on the application's thread until it returns `nil`,
/// and calls ``close()`` exactly once on every path: the normal end, the Content-Length reached,
/// an error, or the client going away (PEP 3333). Arrays of chunks are bodies, and
/// ``WSGIClosureBody`` makes one from closures (a generator).
public protocol WSGIBody {
    /// The next chunk, or `nil` at the end. Empty chunks are allowed and skipped.
    mutating func next() throws -> [UInt8]?
    /// Releases what the body holds (files, database cursors). Called once, on every path.
    mutating func close()
}

extension WSGIBody {
    /// Does nothing: bodies without resources need no `close()`.
    public mutating func close() {}
}

extension Array: WSGIBody where Element == [UInt8] {
    /// The next chunk of the array.
    public mutating func next() -> [UInt8]? {
        isEmpty ? nil : removeFirst()
    }
}

/// A body made from closures: `next` yields chunks until it returns `nil`; `close` runs once.
///
/// ```swift
/// var remaining = 3
/// return WSGIClosureBody(next: {
///     guard remaining > 0 else { return nil }
///     remaining -= 1
///     return Array("tick\n".utf8)
/// }, close: { file.close() })
/// ```
public struct WSGIClosureBody: WSGIBody {
    private let nextChunk: () throws -> [UInt8]?
    private let onClose: (() -> Void)?

    /// Creates a body from a chunk generator and an optional close action.
    public init(next: @escaping () throws -> [UInt8]?, close: (() -> Void)? = nil) {
        self.nextChunk = next
        self.onClose = close
    }

    /// Calls the generator.
    public mutating func next() throws -> [UInt8]? {
        try nextChunk()
    }

    /// Calls the close action.
    public mutating func close() {
        onClose?()
    }

    /// Whether `close()` does nothing.
    var closesTrivially: Bool { onClose == nil }
}
