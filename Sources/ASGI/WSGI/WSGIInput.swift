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
/// try environ.input.forEachLine { line in … }    // PEP 3333's `for line in wsgi.input`
/// for line in environ.input { … }                // the same, as a Sequence
/// ```
///
/// Iterating reads one line at a time, each with its `\n` (the last one without it when the
/// body does not end with one). A line longer than the limit (``defaultLineLimit`` unless given)
/// comes in pieces of at most the limit, so iterating a body without newlines never holds more
/// than the limit and one read's worth of it.
public final class WSGIInput: Sendable {
    /// The longest line iteration returns in one piece: 64 KiB.
    public static let defaultLineLimit = 64 * 1024

    private let source: any WSGIInputSource
    /// Bytes read from the source but not yet handed out (by `readLine`).
    private let pending = Mutex<[UInt8]>([])
    /// The error that ended a `for` loop over the input.
    private let iterationFailure = Mutex<(any Error)?>(nil)

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
        return try source.read(upTo: Swift.max(1, maxBytes))
    }

    /// Reads one line including its `\n` (at most `limit` bytes), or `nil` at the end.
    public func readLine(limit: Int? = nil) throws -> [UInt8]? {
        var line: [UInt8] = []
        while true {
            let found = pending.withLock { pending -> Bool in
                let cap = limit.map { Swift.max(0, $0 - line.count) } ?? pending.count
                if let index = pending.prefix(cap).firstIndex(of: 0x0A) {
                    line.append(contentsOf: pending[...index])
                    pending.removeFirst(index + 1)
                    return true
                }
                let taken = Swift.min(cap, pending.count)
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

    /// Reads the remaining lines, as Python's `readlines(hint)`: with a positive `hint`, no more
    /// lines once their total size reaches `hint` (lines are never cut for it); without one (or
    /// with `hint <= 0`), every line.
    public func readLines(hint: Int? = nil) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var total = 0
        while let line = try readLine() {
            lines.append(line)
            total += line.count
            if let hint, hint > 0, total >= hint { break }
        }
        return lines
    }

    /// Calls `body` with each remaining line, as PEP 3333's `for line in wsgi.input`; a line
    /// longer than `limit` comes in pieces of at most `limit` bytes.
    /// - Throws: the input's error (the client went away, the body is too large), or `body`'s.
    public func forEachLine(limit: Int = WSGIInput.defaultLineLimit, _ body: ([UInt8]) throws -> Void) throws {
        while let line = try readLine(limit: Swift.max(1, limit)) {
            try body(line)
        }
    }

    /// The remaining lines as a sequence, each at most `limit` bytes (a longer line comes in
    /// pieces). A `for` loop cannot throw: a read that fails ends the loop, and the error is
    /// kept in ``iterationError``; ``forEachLine(limit:_:)`` throws it instead.
    public func lines(limit: Int = WSGIInput.defaultLineLimit) -> Lines {
        Lines(input: self, limit: Swift.max(1, limit))
    }

    /// The error that ended a `for` loop over the input early, if one did (`nil` when the loops
    /// reached the end of the body).
    public var iterationError: (any Error)? {
        iterationFailure.withLock { $0 }
    }

    /// The input's lines, one by one (``WSGIInput/lines(limit:)``).
    public struct Lines: Sequence, IteratorProtocol, Sendable {
        private let input: WSGIInput
        private let limit: Int
        private var done = false

        init(input: WSGIInput, limit: Int) {
            self.input = input
            self.limit = limit
        }

        /// The next line (or piece of a long one); `nil` at the end of the body or after an error.
        public mutating func next() -> [UInt8]? {
            guard !done else { return nil }
            do {
                if let line = try input.readLine(limit: limit) { return line }
            } catch {
                input.iterationFailure.withLock { $0 = error }
            }
            done = true
            return nil
        }
    }
}

extension WSGIInput: Sequence {
    /// Iterates the remaining lines with ``defaultLineLimit``, as `for line in wsgi.input`.
    public func makeIterator() -> Lines {
        lines()
    }
}

/// An input source over bytes already in memory.
final class BufferedInputSource: WSGIInputSource, Sendable {
    private let bytes: [UInt8]
    private let offset = Mutex(0)

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func read(upTo maxBytes: Int) throws -> [UInt8] {
        offset.withLock { offset in
            let end = Swift.min(bytes.count, offset + maxBytes)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }
}
