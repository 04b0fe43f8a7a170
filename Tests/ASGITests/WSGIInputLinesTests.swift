import Synchronization
import Testing

@testable import ASGI

/// A body delivered in the given pieces, then optionally a failure; counts what it handed out.
final class PiecewiseSource: WSGIInputSource, Sendable {
    private struct State {
        var pieces: [[UInt8]]
        var delivered = 0
    }

    private let state: Mutex<State>
    private let failure: (any Error)?

    init(_ pieces: [String], failingAtEnd failure: (any Error)? = nil) {
        state = Mutex(State(pieces: pieces.map { Array($0.utf8) }))
        self.failure = failure
    }

    /// A body of `count` bytes without a newline, generated as it is read.
    init(unbrokenBytes count: Int) {
        var pieces: [[UInt8]] = []
        var remaining = count
        while remaining > 0 {
            let size = min(remaining, 10_000)
            pieces.append(Array(repeating: UInt8(ascii: "x"), count: size))
            remaining -= size
        }
        state = Mutex(State(pieces: pieces))
        failure = nil
    }

    var delivered: Int { state.withLock { $0.delivered } }

    func read(upTo maxBytes: Int) throws -> [UInt8] {
        let result = state.withLock { state -> [UInt8]? in
            guard !state.pieces.isEmpty else { return nil }
            let piece = state.pieces[0]
            let taken = Array(piece.prefix(maxBytes))
            if taken.count == piece.count { state.pieces.removeFirst() } else { state.pieces[0] = Array(piece.dropFirst(taken.count)) }
            state.delivered += taken.count
            return taken
        }
        if let result { return result }
        if let failure { throw failure }
        return []
    }
}

@Suite("WSGIInput line by line (PEP 3333)")
struct WSGIInputLinesTests {
    struct Gone: Error {}

    private func text(_ lines: [[UInt8]]) -> [String] {
        lines.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("for line in input: every line with its newline, the last without one, across the source's pieces")
    func forLoop() throws {
        let input = WSGIInput(PiecewiseSource(["fir", "st\nsec", "ond\r\n\nla", "st"]))
        var lines: [[UInt8]] = []
        for line in input { lines.append(line) }
        #expect(text(lines) == ["first\n", "second\r\n", "\n", "last"])
        #expect(input.iterationError == nil)
        #expect(try input.read() == [])
    }

    @Test("forEachLine gives the same lines, and an empty body none")
    func forEachLine() throws {
        var lines: [[UInt8]] = []
        try WSGIInput(bytes: Array("a\nb\n".utf8)).forEachLine { lines.append($0) }
        #expect(text(lines) == ["a\n", "b\n"])
        var none = 0
        try WSGIInput(bytes: []).forEachLine { _ in none += 1 }
        #expect(none == 0)
    }

    @Test("A line longer than the limit comes in pieces of at most the limit, and the rest goes on")
    func boundedLines() throws {
        let input = WSGIInput(bytes: Array("abcdefghij\nxy\n".utf8))
        var pieces: [String] = []
        try input.forEachLine(limit: 4) { pieces.append(String(decoding: $0, as: UTF8.self)) }
        #expect(pieces == ["abcd", "efgh", "ij\n", "xy\n"])
        #expect(text(Array(WSGIInput(bytes: Array("abcdef".utf8)).lines(limit: 5))) == ["abcde", "f"])
    }

    @Test("A 16 MiB body without a newline is iterated holding no more than the limit and one read of it")
    func unboundedLineStaysBounded() {
        let source = PiecewiseSource(unbrokenBytes: 16 << 20)
        let input = WSGIInput(source)
        var iterator = input.lines(limit: 1024).makeIterator()
        let first = iterator.next()
        #expect(first?.count == 1024)
        // What the input took from the source: at most the limit and one read.
        #expect(source.delivered <= 1024 + ServerDefaults.chunkSize)
        var total = first?.count ?? 0
        var largest = 0
        while let piece = iterator.next() {
            total += piece.count
            largest = max(largest, piece.count)
        }
        #expect(total == 16 << 20)
        #expect(largest == 1024)
    }

    @Test("A failing read ends a for loop and is kept; forEachLine throws it, after the lines before it")
    func failures() {
        let looped = WSGIInput(PiecewiseSource(["one\ntw"], failingAtEnd: Gone()))
        var lines: [[UInt8]] = []
        for line in looped { lines.append(line) }
        #expect(text(lines) == ["one\n"])
        #expect(looped.iterationError is Gone)

        let thrown = WSGIInput(PiecewiseSource(["one\ntw"], failingAtEnd: Gone()))
        var seen: [[UInt8]] = []
        #expect(throws: Gone.self) { try thrown.forEachLine { seen.append($0) } }
        #expect(text(seen) == ["one\n"])
    }

    @Test("readLines(hint:) stops once the lines reach the hint, never cutting one; without a hint, every line")
    func readLinesHint() throws {
        let body = Array("12345\n678\nabc\nlast".utf8)
        #expect(text(try WSGIInput(bytes: body).readLines()) == ["12345\n", "678\n", "abc\n", "last"])
        #expect(text(try WSGIInput(bytes: body).readLines(hint: 0)) == ["12345\n", "678\n", "abc\n", "last"])
        #expect(text(try WSGIInput(bytes: body).readLines(hint: 1)) == ["12345\n"])
        #expect(text(try WSGIInput(bytes: body).readLines(hint: 6)) == ["12345\n"])
        #expect(text(try WSGIInput(bytes: body).readLines(hint: 7)) == ["12345\n", "678\n"])
        // What the hint left stays readable.
        let input = WSGIInput(bytes: body)
        _ = try input.readLines(hint: 7)
        #expect(text(try input.readLines()) == ["abc\n", "last"])
    }
}
