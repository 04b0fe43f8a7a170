import ASGI
import Foundation
import Synchronization

/// Bytes from a hex string of the reference fixture.
func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(hex.utf8.count / 2)
    var iterator = hex.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        result.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
    }
    return result
}

/// The UTF-8 bytes of `text`.
func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A request body delivered as a client sends it: in the given pieces, then either the end or an
/// error (the client vanished), so tests can be slow, truncated or lying about lengths.
final class ScriptedInputSource: WSGIInputSource {
    private let pieces: Mutex<[[UInt8]]>
    private let failure: (any Error)?

    init(_ pieces: [[UInt8]], then failure: (any Error)? = nil) {
        self.pieces = Mutex(pieces.filter { !$0.isEmpty })
        self.failure = failure
    }

    func read(upTo maxBytes: Int) throws -> [UInt8] {
        let next = pieces.withLock { pieces -> [UInt8]? in
            guard !pieces.isEmpty else { return nil }
            let taken = Array(pieces[0].prefix(maxBytes))
            pieces[0].removeFirst(taken.count)
            if pieces[0].isEmpty { pieces.removeFirst() }
            return taken
        }
        if let next { return next }
        if let failure { throw failure }
        return []
    }
}

/// An environ for a POST with `body` split into `pieces` of `pieceSize` bytes (a slow client).
func postEnviron(
    body: [UInt8],
    contentType: String,
    contentLength: Int? = -1,
    pieceSize: Int = 64 * 1024,
    then failure: (any Error)? = nil
) -> Environ {
    var pieces: [[UInt8]] = []
    var start = 0
    while start < body.count {
        pieces.append(Array(body[start..<min(start + pieceSize, body.count)]))
        start += pieceSize
    }
    var variables = ["REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": contentType]
    // -1: the true length; nil: none (a chunked body); any other: what the client claimed.
    if let contentLength { variables["CONTENT_LENGTH"] = String(contentLength < 0 ? body.count : contentLength) }
    return Environ(variables: variables, input: WSGIInput(ScriptedInputSource(pieces, then: failure)))
}

/// Removes a directory made by `makeTemporaryDirectory` and what it holds.
func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The names in `directory` (to prove spooled uploads leave nothing behind).
func entries(of directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory)
}

/// Pairs grouped by name in order of first appearance, as werkzeug's MultiDict iterates them.
func groupedByName(_ pairs: [(String, String)]) -> [[String]] {
    var order: [String] = []
    var values: [String: [String]] = [:]
    for (name, value) in pairs {
        if values[name] == nil { order.append(name) }
        values[name, default: []].append(value)
    }
    return order.flatMap { name in values[name]!.map { [name, $0] } }
}

/// A multipart body with CRLF line breaks.
func multipartBody(boundary: String, _ parts: [(headers: [String], content: [UInt8])], close: Bool = true) -> [UInt8] {
    var body: [UInt8] = []
    for part in parts {
        body += utf8("--\(boundary)\r\n")
        for header in part.headers { body += utf8(header + "\r\n") }
        body += utf8("\r\n")
        body += part.content
        body += utf8("\r\n")
    }
    if close { body += utf8("--\(boundary)--\r\n") }
    return body
}
