import ASGI
import Foundation
import Synchronization
import TestSupport
import Testing

/// Resident memory of this process, in bytes (Linux `/proc/self/statm`).
private func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// `make test` runs this suite in a process of its own (`--filter MemoryTests`): resident memory is
/// process-wide, and the other suites running in parallel would move it.
@Suite("WSGIToASGI memory", .serialized)
struct MemoryTests {
    static let chunkSize = 64 * 1024
    static let chunkCount = 4_096  // 256 MiB in all
    /// A fresh chunk each time, as a server's reads produce (shared buffers would hide leaks).
    static var chunk: [UInt8] { Array(repeating: UInt8(0x61), count: chunkSize) }

    /// A 256 MiB upload streams through `environ.input` with bounded memory (growth < 96 MiB,
    /// far below the body: buffering it would add 256 MiB).
    ///
    /// The bound covers the whole process: suites running in parallel create threads (stacks,
    /// malloc arenas) while this runs, which alone grew it by 22–48 MiB on a loaded 2-core machine.
    @Test func uploadStreamsWithBoundedMemory() async throws {
        let received = Recorder<Int>()
        let app = WSGIToASGI(
            WSGIApp { environ, start in
                var total = 0
                while true {
                    let piece = try environ.input.read(256 * 1024)
                    if piece.isEmpty { break }
                    total += piece.count
                }
                received.append(total)
                _ = try start("200 OK", [], nil)
                return [[UInt8]]()
            },
            maxRequestBodyBytes: nil
        )
        let before = residentBytes()
        let peak = Recorder<Int>()
        let sent = Counter()
        try await app(
            scope: .http(HTTPScope(method: "POST", path: "/upload")),
            receive: {
                let index = sent.next()
                if index % 256 == 0 { peak.append(residentBytes()) }
                return .httpRequest(body: Self.chunk, moreBody: index < Self.chunkCount - 1)
            },
            send: { _ in }
        )
        peak.append(residentBytes())
        #expect(received.values == [Self.chunkSize * Self.chunkCount])
        let growth = (peak.values.max() ?? before) - before
        #expect(growth < 32 * 1024 * 1024, "resident memory grew by \(growth / 1024 / 1024) MiB")
    }

    /// A 256 MiB streamed response flows out with bounded memory (growth < 32 MiB).
    @Test func streamedResponseHasBoundedMemory() async throws {
        let app = WSGIToASGI(
            WSGIApp { _, start in
                _ = try start("200 OK", [], nil)
                var remaining = Self.chunkCount
                return WSGIClosureBody(next: {
                    guard remaining > 0 else { return nil }
                    remaining -= 1
                    return Self.chunk
                })
            }
        )
        let before = residentBytes()
        let peak = Recorder<Int>()
        let total = Counter()
        try await app(
            scope: .http(HTTPScope(method: "GET", path: "/download")),
            receive: { .httpRequest() },
            send: { event in
                if case .httpResponseBody(let body, _) = event {
                    if total.add(body.count) % (16 << 20) < body.count { peak.append(residentBytes()) }
                }
            }
        )
        peak.append(residentBytes())
        #expect(total.value == Self.chunkSize * Self.chunkCount)
        let growth = (peak.values.max() ?? before) - before
        #expect(growth < 32 * 1024 * 1024, "resident memory grew by \(growth / 1024 / 1024) MiB")
    }
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let count = Mutex(0)
    func next() -> Int {
        count.withLock { value in
            defer { value += 1 }
            return value
        }
    }
    func add(_ amount: Int) -> Int {
        count.withLock {
            $0 += amount
            return $0
        }
    }
    var value: Int { count.withLock { $0 } }
}
