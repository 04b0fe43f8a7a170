import ASGI
import AsyncBridge
import Foundation
import Testing

/// Resident memory of this process, in bytes (Linux `/proc/self/statm`).
private func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Runs `count` calls of `call`, at most `width` at once.
private func runConcurrently(_ count: Int, width: Int = 32, _ call: @escaping @Sendable (Int) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<count {
            if index >= width { try await group.next() }
            group.addTask { try await call(index) }
        }
        try await group.waitForAll()
    }
}

/// Deadlines that outlive their requests would hold memory until they expire: about 0.8 KiB per
/// request for a minute, gigabytes under load. These run in the memory suite (`make test` runs it in
/// a process of its own, and the suite is serialized, so no other test moves the process's memory).
extension MemoryTests {
    static let deadlineWarmUp = 10_000
    static let deadlineRequests = 100_000
    /// Far below what the deadlines would hold if they outlived their calls (about 80 MiB here).
    static let deadlineGrowthLimit = 16 * 1024 * 1024

    /// 100,000 calls of `withTimeout(.seconds(60))` that finish at once: resident memory stays flat.
    @Test func finishedTimeoutsHoldNoMemory() async throws {
        let sum = Counter()
        let call: @Sendable (Int) async throws -> Void = { index in
            _ = sum.add(try await withTimeout(.seconds(60)) { index & 1 })
        }
        try await runConcurrently(Self.deadlineWarmUp, call)
        let before = residentBytes()
        try await runConcurrently(Self.deadlineRequests, call)
        let growth = residentBytes() - before
        #expect(sum.value == (Self.deadlineWarmUp + Self.deadlineRequests) / 2)
        #expect(growth < Self.deadlineGrowthLimit, "resident memory grew by \(growth / 1024) KiB over \(Self.deadlineRequests) calls")
    }

    /// 100,000 requests through `RequestTimeout` with the runner's default 60 s limit, to a
    /// WSGI-style hello: every answer is a 200, and resident memory stays flat.
    @Test func requestTimeoutHoldsNoMemoryOnceRequestsEnd() async throws {
        let hello = Array("Hello, world!\n".utf8)
        let app = RequestTimeout(
            WSGIToASGI(
                WSGIApp { _, start in
                    _ = try start("200 OK", [("Content-Type", "text/plain"), ("Content-Length", String(hello.count))], nil)
                    return [hello]
                }
            ),
            limit: .seconds(60)
        )
        let ok = Counter()
        let request: @Sendable (Int) async throws -> Void = { _ in
            try await app(
                scope: .http(HTTPScope(method: "GET", path: "/")),
                receive: { .httpRequest() },
                send: { event in
                    if case .httpResponseStart(200, _, _) = event { _ = ok.add(1) }
                }
            )
        }
        try await runConcurrently(Self.deadlineWarmUp, request)
        let before = residentBytes()
        try await runConcurrently(Self.deadlineRequests, request)
        let growth = residentBytes() - before
        #expect(ok.value == Self.deadlineWarmUp + Self.deadlineRequests)
        #expect(growth < Self.deadlineGrowthLimit, "resident memory grew by \(growth / 1024) KiB over \(Self.deadlineRequests) requests")
    }
}
