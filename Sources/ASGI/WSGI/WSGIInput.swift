import Synchronization

/// Where a ``WSGIInput`` gets its bytes: a request body arriving from a server.
///
/// `read(upTo:)` blocks until at least one byte is available, and returns an empty array at the
/// end of the body. It throws when the body cannot be delivered (the client went away, the body is
/// larger than allowed): never a silent end.
public protocol WSGIInputSource: AnyObject, Sendable {
    /// Up to `maxBytes` bytes (at least one), or `[]` at the end of the body.
    func read(upTo maxBytes: Int) throws -> [UInt8]
}

/// The request body as the application reads it (`wsgi.input`): blocking reads on the
/// application's thread, streamed from the server as the application asks for it.
///
/// ```swift
/// let form = try environ.input.read()            // the whole body
/// while let line = try environ.input.readLine() { … }
/// ```
public final class WSGIInput: Sendable {
    private let source: any WSGIInputSource
    /// Bytes read from the source but not yet handed out (by `readLine`).
    private let pending = Mutex<[UInt8]>([])

    /// Reads from `source`.
    public init(_ source: any WSGIInputSource) {
        self.source = source
    }

    /// An input with the given bytes (tests, buffered bodies).
    public convenience init(bytes: [UInt8]) {
        self.init(BufferedInputSource(bytes))
    }

    /// Reads `size` bytes (fewer only at the end of the body), or everything to the end when `size`
    /// is `nil`; `[]` at the end.
    public func read(_ size: Int? = nil) throws -> [UInt8] {
        if let size {
            guard size > 0 else { return [] }
            var result = pending.withLock { pending -> [UInt8] in
                let taken = Array(pending.prefix(size))
                pending.removeFirst(taken.count)
                return taken
            }
            // Like a file's read(size): block until `size` bytes or the end (fewer, larger reads
            // also mean fewer thread wake-ups per body).
            while result.count < size {
                let chunk = try source.read(upTo: size - result.count)
                if chunk.isEmpty { break }
                if result.isEmpty { result = chunk } else { result.append(contentsOf: chunk) }
            }
            return result
        }
        var all = pending.withLock { pending -> [UInt8] in
            defer { pending = [] }
            return pending
        }
        while true {
            let chunk = try source.read(upTo: ServerDefaults.chunkSize)
            if chunk.isEmpty { return all }
            all.append(contentsOf: chunk)
        }
    }

    /// Up to `maxBytes` bytes, as soon as at least one is there (`[]` at the end): what a server
    /// streams on to an ASGI application as it arrives.
    package func readAvailable(upTo maxBytes: Int) throws -> [UInt8] {
        let buffered = pending.withLock { pending -> [UInt8] in
            let taken = Array(pending.prefix(maxBytes))
            pending.removeFirst(taken.count)
            return taken
        }
        if !buffered.isEmpty { return buffered }
        return try source.read(upTo: max(1, maxBytes))
    }

    /// Reads one line including its `\n` (at most `limit` bytes), or `nil` at the end.
    public func readLine(limit: Int? = nil) throws -> [UInt8]? {
        var line: [UInt8] = []
        while true {
            let found = pending.withLock { pending -> Bool in
                let cap = limit.map { max(0, $0 - line.count) } ?? pending.count
                if let index = pending.prefix(cap).firstIndex(of: 0x0A) {
                    line.append(contentsOf: pending[...index])
                    pending.removeFirst(index + 1)
                    return true
                }
                let taken = min(cap, pending.count)
                line.append(contentsOf: pending.prefix(taken))
                pending.removeFirst(taken)
                return limit.map { line.count >= $0 } ?? false
            }
            if found { return line }
            let chunk = try source.read(upTo: ServerDefaults.chunkSize)
            if chunk.isEmpty { return line.isEmpty ? nil : line }
            pending.withLock { $0.append(contentsOf: chunk) }
        }
    }

    /// Reads all remaining lines.
    public func readLines() throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        while let line = try readLine() { lines.append(line) }
        return lines
    }
}

/// An input source over bytes already in memory.
final class BufferedInputSource: WSGIInputSource, @unchecked Sendable {
    private let bytes: [UInt8]
    private let offset = Mutex(0)

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func read(upTo maxBytes: Int) throws -> [UInt8] {
        offset.withLock { offset in
            let end = min(bytes.count, offset + maxBytes)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }
}
