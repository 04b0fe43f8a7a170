import Foundation
import Glibc
import Testing

@testable import Gateway

/// The small parts of the process model: the hand-over marker, exit statuses and signal names,
/// the status page's rendering, and systemd notifications.
@Suite("Gateway parts")
struct GatewayPartsTests {
    @Test func handOverRoundTrips() throws {
        let handOver = WorkerHandOver(slot: 3, number: 2, generation: 1, supervisorPID: 4242, http: 3, fastCGI: nil, scoreboard: 4, channel: 5)
        #expect(handOver.encoded == "v1;slot=3;number=2;generation=1;supervisor=4242;http=3;fastcgi=-;scoreboard=4;channel=5")
        #expect(WorkerHandOver(encoded: handOver.encoded) == handOver)
        for bad in [
            "", "v2;slot=1", "v1;slot=x;number=1", "v1;slot=1;number=0;generation=0;supervisor=1;http=-;fastcgi=-;scoreboard=4;channel=5",
            "v1;slot=1;number=1;generation=0;supervisor=1;http=-;scoreboard=4;channel=5",
        ] {
            #expect(WorkerHandOver(encoded: bad) == nil, "\(bad)")
        }
    }

    @Test func exitStatusesAndSignalNames() {
        #expect(ProcessExit(waitStatus: 3 << 8) == .exited(status: 3))
        #expect(ProcessExit(waitStatus: SIGSEGV | 0x80) == .signalled(signal: SIGSEGV, coreDumped: true))
        #expect(ProcessExit(waitStatus: SIGILL).description == "died on SIGILL")
        #expect(ProcessExit(waitStatus: 1 << 8).description == "exited with status 1")
        #expect(SignalName.of(SIGKILL) == "SIGKILL")
        #expect(SignalName.of(SIGTRAP) == "SIGTRAP")
        #expect(ProcessExit(waitStatus: SIGTERM).isOrderlyStop)
        #expect(!ProcessExit(waitStatus: SIGABRT).isOrderlyStop)
    }

    @Test func restartBackoffDoublesToTenSeconds() {
        var backoff = RestartBackoff()
        let delays = (0..<10).map { _ in backoff.failed(at: 0) / 1_000_000 }
        #expect(delays == [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000])
        #expect(!backoff.allowsStart(at: 9_999_999_999))
        backoff.succeeded()
        #expect(backoff.allowsStart(at: 0))
    }

    @Test func statusPageTextAndJSON() throws {
        let scoreboard = try Scoreboard.create(slots: 2, supervised: true, configuredWorkers: 2)
        let slot = scoreboard.slot(0)
        slot.prepare(number: 1, generation: 0, maxRequests: 0, memoryLimitBytes: 0, now: SystemCalls.monotonicNanos())
        slot.store(ScoreboardLayout.Slot.pid, 777)
        slot.store(ScoreboardLayout.Slot.state, WorkerState.ready.rawValue)
        let tracker = RequestTracker(slot: slot, onRecycle: {})
        let ticket = tracker.begin(method: "GET", path: "/say \"hi\"")
        defer { tracker.end(ticket) }
        let endpoints = StatusEndpoints(statusPath: "/status", pingPath: "/ping", scoreboard: scoreboard, pool: "app")
        let none: [UInt8] = []
        #expect(endpoints.answer(path: "/other", query: none) == nil)
        let ping = try #require(endpoints.answer(path: "/ping", query: none))
        #expect(String(decoding: ping.body, as: UTF8.self) == "pong\n")
        let text = String(decoding: try #require(endpoints.answer(path: "/status", query: Array("full".utf8))).body, as: UTF8.self)
        let lines = text.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        #expect(lines.contains { $0 == ("busy processes", "1") })
        #expect(lines.contains { $0 == ("pid", "777") })
        #expect(lines.contains { $0.0 == "request" && $0.1.hasPrefix("GET /say \"hi\" (") })
        #expect(text.hasPrefix("pool:                  app\n"), "values start in one column")
        let json = try #require(endpoints.answer(path: "/status", query: Array("json&full".utf8)))
        #expect(json.contentType == "application/json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.body)) as? [String: Any])
        #expect(object["pool"] as? String == "app")
        #expect(object["requests_in_flight"] as? Int == 1)
        let processes = try #require(object["processes"] as? [[String: Any]])
        #expect(processes.first?["state"] as? String == "busy")
        #expect((processes.first?["requests"] as? [[String: Any]])?.first?["path"] as? String == "/say \"hi\"")
        let brief = try #require(endpoints.answer(path: "/status", query: Array("json".utf8)))
        #expect((try JSONSerialization.jsonObject(with: Data(brief.body)) as? [String: Any])?["processes"] == nil)
    }

    @Test(arguments: [true, false])
    func systemdNotifierSendsADatagram(abstract: Bool) throws {
        let name =
            abstract
            ? "swift-asgi-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            : "/tmp/swift-asgi-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer {
            close(fd)
            if !abstract { unlink(name) }
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = abstract ? [UInt8(0)] + Array(name.utf8) : Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout.offset(of: \sockaddr_un.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        #expect(bound == 0)
        let notifier = try #require(SystemdNotifier(socket: abstract ? "@" + name : name))
        #expect(notifier.send("READY=1\nSTATUS=ok"))
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        #expect(count > 0 && String(decoding: buffer[..<max(0, count)], as: UTF8.self) == "READY=1\nSTATUS=ok")
        #expect(SystemdNotifier(socket: nil) == nil)
        #expect(SystemdNotifier(socket: "relative") == nil)
    }
}
