import Foundation
import TestSupport
import Testing

@testable import ASGIFastCGI

/// A peer cannot make libfcgi allocate what its records announce: the worker looks at the
/// parameters first (`ParamsPreflight`), answers 431 or closes, and serves the next request.
@Suite("FastCGI: parameters checked before libfcgi reads them")
struct ParamsPreflightTests {
    private static func scan(_ bytes: [UInt8], limit: Int = 1024) -> ParamsPreflight.Verdict {
        bytes.withUnsafeBytes { ParamsPreflight(limit: limit).scan($0) }
    }

    /// A pair header announcing `name` and `value` bytes, with none of them.
    private static func announcing(name: Int, value: Int) -> [UInt8] {
        FastCGIWire.length(name) + FastCGIWire.length(value)
    }

    @Test func aCompleteRequestWithinTheLimitIsSafe() {
        let request = FastCGIWire.request(id: 7, params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/a")])
        #expect(Self.scan(request) == .safe)
    }

    @Test func aPartialRequestAsksForTheNextRecord() {
        let begin = FastCGIWire.begin(id: 1)
        #expect(Self.scan(Array(begin.prefix(5))) == .needMore(8))
        #expect(Self.scan(begin) == .needMore(24))
        let params = FastCGIWire.record(FastCGIWire.params, id: 1, FastCGIWire.pair("A", "b"))
        #expect(Self.scan(begin + params.prefix(10)) == .needMore(16 + 8 + 4))
        #expect(Self.scan(begin + params) == .needMore(16 + params.count + 8))
    }

    @Test func aFourGibibyteParameterIsTooLargeBeforeItsBytesArrive() {
        // Name length 1, value length 2^31 - 1 (four bytes, the high bit set), then nothing.
        let huge = FastCGIWire.begin(id: 3) + FastCGIWire.record(FastCGIWire.params, id: 3, [1, 0xFF, 0xFF, 0xFF, 0xFF, 0x41])
        guard case .tooLarge(let id, let announced) = Self.scan(huge) else {
            Issue.record("not refused: \(Self.scan(huge))")
            return
        }
        #expect(id == 3)
        #expect(announced > 1 << 30)
    }

    @Test func aPairHeaderSplitAcrossRecordsIsStillRead() {
        let header = Self.announcing(name: 4, value: 5000)
        var input = FastCGIWire.begin(id: 1)
        input += FastCGIWire.record(FastCGIWire.params, id: 1, Array(header.prefix(3)))
        input += FastCGIWire.record(FastCGIWire.params, id: 1, Array(header.dropFirst(3)))
        guard case .tooLarge = Self.scan(input, limit: 1024) else {
            Issue.record("not refused: \(Self.scan(input))")
            return
        }
        #expect(Self.scan(input, limit: 8192) == .needMore(input.count + 8))
    }

    @Test func manyRecordsPastTheLimitAreTooLarge() {
        var input = FastCGIWire.begin(id: 1)
        for index in 0..<20 {
            input += FastCGIWire.record(FastCGIWire.params, id: 1, FastCGIWire.pair("HTTP_X_\(index)", String(repeating: "v", count: 100)))
        }
        guard case .tooLarge = Self.scan(input, limit: 1024) else {
            Issue.record("not refused: \(Self.scan(input))")
            return
        }
    }

    @Test func aManagementRecordAnnouncingMoreThanItHoldsIsMalformed() {
        let lying = FastCGIWire.record(9, id: 0, Self.announcing(name: 0x7FFF_FFFF, value: 0))
        #expect(Self.scan(lying) == .malformed)
        let honest = FastCGIWire.record(9, id: 0, FastCGIWire.pair("FCGI_MPXS_CONNS", ""))
        #expect(Self.scan(honest + FastCGIWire.request(params: [("A", "b")])) == .safe)
    }

    @Test func inputLibFCGIRefusesOnItsOwnIsHandedOver() {
        #expect(Self.scan(Array(repeating: 0x47, count: 16)) == .safe)  // Not version 1.
        #expect(Self.scan(FastCGIWire.begin(id: 1) + FastCGIWire.record(FastCGIWire.stdin, id: 1, [1, 2])) == .safe)
    }

    /// Over a real socket: one record announcing a 4 GiB parameter (which made libfcgi abort the
    /// process), a management record that lies about its pairs, and parameters that never finish
    /// arriving. Each costs its connection only; the one worker thread serves the next request.
    @Test func hostilePeersCostTheirConnectionOnly() async throws {
        let configure: (inout FastCGIConfiguration) -> Void = { $0.readTimeout = .milliseconds(500) }
        try await withOneWorker("preflight", configure: configure) { server, path, directory in
            // A 2 GiB name and a 2 GiB value: libfcgi's allocation of their sum fails and it aborts.
            let huge =
                FastCGIWire.begin(id: 9)
                + FastCGIWire.record(FastCGIWire.params, id: 9, Self.announcing(name: 0x7FFF_FFFF, value: 0x7FFF_FFFF) + [0x41])
            let answer = FastCGIRecord.parse(try await exchange(path: path, huge))
            let stdout = String(decoding: answer.filter { $0.type == 6 && $0.id == 9 }.flatMap(\.content), as: UTF8.self)
            #expect(stdout.hasPrefix("Status: 431 "), "\(stdout)")
            #expect(answer.contains { $0.type == 3 && $0.id == 9 })
            #expect(try await cgiFcgi(path, environment: cgiRequest("/after-huge"), in: directory).output.hasPrefix("Status: 200 OK"))

            let lying = FastCGIWire.record(9, id: 0, Self.announcing(name: 0x7FFF_FFFF, value: 0))
            #expect(try await exchange(path: path, lying).isEmpty)
            #expect(try await cgiFcgi(path, environment: cgiRequest("/after-lying"), in: directory).output.hasPrefix("Status: 200 OK"))

            // The start of the parameters, then silence past the read timeout (the connection
            // stays open: the worker must give it up by itself).
            let stalledAnswer = try await offPool {
                let stalled = try RawConnection(unixPath: path)
                stalled.send(FastCGIWire.begin(id: 1) + FastCGIWire.record(FastCGIWire.params, id: 1, FastCGIWire.pair("REQUEST_METHOD", "GET")))
                return stalled.readAll()
            }
            #expect(stalledAnswer.isEmpty)
            #expect(try await cgiFcgi(path, environment: cgiRequest("/after-stall"), in: directory).output.hasPrefix("Status: 200 OK"))
            #expect(server.status.rejectedRequests == 3)
        }
    }
}
