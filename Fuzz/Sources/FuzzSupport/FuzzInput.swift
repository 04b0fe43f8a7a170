/// The bytes of one fuzz input, read from the front: a few control bytes (chunk sizes, modes),
/// then text up to a line break, then the rest. Reading past the end gives zeros and empty arrays,
/// so every input, even an empty one, is a valid test case.
public struct FuzzInput {
    private let bytes: [UInt8]
    private var position = 0

    /// The input libFuzzer passes to `LLVMFuzzerTestOneInput`.
    public init(_ start: UnsafeRawPointer?, _ count: Int) {
        if let start, count > 0 {
            bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
        } else {
            bytes = []
        }
    }

    /// The next byte, or 0 at the end.
    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// The bytes up to the next line feed (not included; at most `limit`), or to the end.
    public mutating func line(limit: Int) -> [UInt8] {
        var line: [UInt8] = []
        while position < bytes.count, line.count < limit {
            let byte = bytes[position]
            position += 1
            if byte == 0x0A { break }
            line.append(byte)
        }
        return line
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] {
        defer { position = bytes.count }
        return Array(bytes[min(position, bytes.count)...])
    }
}

/// Stops the fuzz run with `message` when `condition` fails: libFuzzer records the input as a
/// crash. A finding is a broken invariant as much as a trap.
public func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition {
        fatalError("invariant broken: \(message())", file: file, line: line)
    }
}
