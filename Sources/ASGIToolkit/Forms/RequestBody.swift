import ASGI

/// Reads a WSGI-style request body the way PEP 3333 asks: never past `CONTENT_LENGTH`, and never
/// more than a limit.
///
/// A body that ends before `CONTENT_LENGTH` bytes (the client lied or vanished) is a
/// ``FormError`` `truncatedBody`, as werkzeug's `ClientDisconnected`; one declared or found larger
/// than `maxBytes` is `bodyTooLarge`, before anything past the limit is read.
struct RequestBody {
    private let input: WSGIInput
    private let declared: Int?
    private let maxBytes: Int
    private(set) var received = 0

    init(_ environ: Environ, maxBytes: Int) throws(FormError) {
        self.input = environ.input
        self.maxBytes = maxBytes
        self.declared = try Self.contentLength(environ["CONTENT_LENGTH"])
        if let declared, declared > maxBytes {
            throw Self.tooLarge(declared, maxBytes)
        }
    }

    /// The next bytes (at most `count`), or `[]` at the end of the body.
    mutating func read(upTo count: Int) throws -> [UInt8] {
        let wanted: Int
        if let declared {
            wanted = min(count, declared - received)
            guard wanted > 0 else { return [] }
        } else {
            // One byte past the limit tells a body at the limit from a larger one.
            wanted = min(count, maxBytes + 1 - received)
        }
        let chunk = try input.read(wanted)
        received += chunk.count
        if received > maxBytes { throw Self.tooLarge(received, maxBytes) }
        if chunk.isEmpty, let declared, received < declared {
            throw FormError(.truncatedBody, "The request body ended after \(received) of the \(declared) bytes its Content-Length announced.")
        }
        return chunk
    }

    /// The whole body.
    mutating func readAll() throws -> [UInt8] {
        var body: [UInt8] = []
        if let declared { body.reserveCapacity(declared) }
        while true {
            let chunk = try read(upTo: 64 * 1024)
            if chunk.isEmpty { return body }
            body.append(contentsOf: chunk)
        }
    }

    /// `CONTENT_LENGTH` as a number; `nil` when absent or empty.
    static func contentLength(_ text: String?) throws(FormError) -> Int? {
        guard let text, !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                throw FormError(.invalidContentLength, "CONTENT_LENGTH \(String(reflecting: text)) is not a decimal number.")
            }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return Int.max }
            value = sum
        }
        return value
    }

    private static func tooLarge(_ size: Int, _ limit: Int) -> FormError {
        FormError(
            .bodyTooLarge,
            "The request body has \(size == Int.max ? "more than \(limit)" : String(size)) bytes, more than the limit of \(limit); send less, or raise the limit."
        )
    }
}
