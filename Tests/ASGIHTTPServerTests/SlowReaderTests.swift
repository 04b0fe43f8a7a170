import ASGI
import ASGIHTTPServer
import Foundation
import TestSupport
import Testing

/// Clients that read a large answer slowly: the idle timer starts only once the response's last
/// bytes have reached the socket, and no close (idle, `Connection: close`, HTTP/1.0, a graceful
/// shutdown) drops bytes still queued for the client.
///
/// The client shrinks its receive buffer and reads 16 KiB every quarter second (64 KB/s) for three
/// seconds, six times the (shortened) idle timeout, then the rest at full speed. The answer is
/// larger than what the kernel's socket buffers take, so most of it is still queued in the server
/// while the client reads slowly: a close then would lose it.
@Suite(.timeLimit(.minutes(3)))
struct SlowReaderTests {
    /// The answer's size: more than the kernel buffers on loopback (the send buffer grows to 4 MiB).
    private static let size = 8 * 1024 * 1024
    /// Byte `i` of the answer.
    private static let pattern = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        for index in 0..<size { buffer[index] = UInt8(truncatingIfNeeded: index &* 7 &+ index >> 11) }
        count = size
    }

    /// Answers `GET /one` with the whole answer in one body event, `GET /many` in 64 KiB events
    /// sent as fast as the server takes them (the application returns long before the client has
    /// read the answer), `GET /` with `ok`.
    ///
    /// The answer is made here, in the test, never lazily inside the application: the application
    /// runs on the server's event loops, which every test of the process shares, and 8 MiB made
    /// there (slowly, in a debug build) would hold their timers back.
    private static func serving() -> ASGIApp {
        let pattern = Self.pattern
        return ASGIApp { scope, receive, send in
            guard case .http(let http) = scope else { return }
            _ = try await readBody(receive)
            switch http.path {
            case "/one":
                try await send(.httpResponseStart(status: 200, headers: [("content-type", "application/octet-stream")]))
                try await send(.httpResponseBody(body: pattern))
            case "/many":
                try await send(.httpResponseStart(status: 200, headers: [("content-length", String(size))]))
                var offset = 0
                while offset < size {
                    let end = min(offset + 64 * 1024, size)
                    try await send(.httpResponseBody(body: Array(pattern[offset..<end]), moreBody: end < size))
                    offset = end
                }
            case "/chunked":
                try await send(.httpResponseStart(status: 200, headers: []))
                var offset = 0
                while offset < size {
                    let end = min(offset + 64 * 1024, size)
                    try await send(.httpResponseBody(body: Array(pattern[offset..<end]), moreBody: true))
                    offset = end
                }
                try await send(.httpResponseBody(body: []))
            default:
                try await respond(send, "ok")
            }
        }
    }

    /// The idle timeout the tests run with: far shorter than the time the client takes to read.
    private static let configuration = testConfiguration { $0.idleTimeout = .milliseconds(500) }

    /// Sends `request` from a client with a small receive buffer, reads the answer at 64 KB/s for
    /// three seconds and then at full speed (for at most 60 s in all), and reports the body's length, whether it is the expected bytes, how
    /// the connection ended, and a normal request on a new connection.
    private static func slowRead(_ request: String, port: Int) async throws -> HostileResult {
        try await runHostile(
            """
            import hashlib
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", PORT))
            s.settimeout(30)
            s.sendall(\(request))
            data = bytearray()
            started = time.monotonic()
            fast = False
            while time.monotonic() < started + 60:
                slow = time.monotonic() < started + 3
                if not slow and not fast:
                    fast = True
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                try:
                    chunk = s.recv(16384 if slow else 1 << 20)
                except (ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                data.extend(chunk)
                if slow:
                    time.sleep(0.25)
            data = bytes(data)
            head, _, body = data.partition(b"\\r\\n\\r\\n")
            headers = head.decode("latin-1").lower()
            if "transfer-encoding: chunked" in headers:
                rest, body = body, b""
                while rest:
                    line, _, rest = rest.partition(b"\\r\\n")
                    n = int(line, 16)
                    if n == 0:
                        break
                    body += rest[:n]
                    rest = rest[n + 2:]
            emit({"head": head.decode("latin-1"), "length": len(body), "digest": hashlib.sha256(body).hexdigest(),
                  "next": normal("/")})
            """,
            port: port
        )
    }

    /// Expects the whole answer, byte for byte (its SHA-256 computed by Python as well), and the
    /// next request served.
    private func expectWhole(_ result: HostileResult, _ what: String) async throws {
        let expected = try await python(
            """
            import hashlib, sys
            size = \(Self.size)
            data = bytes(((i * 7) + (i >> 11)) & 0xFF for i in range(size))
            print(hashlib.sha256(data).hexdigest())
            """
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(result["length"] as? Int == Self.size, "\(what): \(result["head"] ?? "") \(result["length"] ?? "")")
        #expect(result["digest"] as? String == expected, "\(what)")
        #expect(result["next"] as? String == "200 ok", "\(what): \(result["next"] ?? "")")
    }

    @Test("A keep-alive answer in one body event reaches a slow reader whole")
    func oneEventKeepAlive() async throws {
        let result = try await withHostileServer(Self.serving(), configuration: Self.configuration) { server in
            try await Self.slowRead(#"b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n""#, port: server.port)
        }
        try await expectWhole(result, "one event, keep-alive")
    }

    @Test("An answer with Connection: close reaches a slow reader whole")
    func connectionClose() async throws {
        let result = try await withHostileServer(Self.serving(), configuration: Self.configuration) { server in
            try await Self.slowRead(#"b"GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n""#, port: server.port)
        }
        try await expectWhole(result, "Connection: close")
    }

    @Test("An HTTP/1.0 answer reaches a slow reader whole")
    func http10() async throws {
        let result = try await withHostileServer(Self.serving(), configuration: Self.configuration) { server in
            try await Self.slowRead(#"b"GET /one HTTP/1.0\r\n\r\n""#, port: server.port)
        }
        try await expectWhole(result, "HTTP/1.0")
    }

    @Test("An HTTP/1.0 answer streamed without a length (ended by the close) reaches a slow reader whole")
    func http10Streamed() async throws {
        let result = try await withHostileServer(Self.serving(), configuration: Self.configuration) { server in
            try await Self.slowRead(#"b"GET /chunked HTTP/1.0\r\n\r\n""#, port: server.port)
        }
        try await expectWhole(result, "HTTP/1.0 streamed")
    }

    @Test("An application that returns at once after many body events: the slow reader gets it all")
    func fastApplication() async throws {
        let result = try await withHostileServer(Self.serving(), configuration: Self.configuration) { server in
            try await Self.slowRead(#"b"GET /many HTTP/1.1\r\nHost: x\r\n\r\n""#, port: server.port)
        }
        try await expectWhole(result, "many events")
    }

    @Test("A client that stops reading altogether is closed after the send timeout; the next request is served")
    func stalledReader() async throws {
        let configuration = testConfiguration {
            $0.idleTimeout = .milliseconds(500)
            $0.sendTimeout = .seconds(1)
        }
        let result = try await withHostileServer(Self.serving(), configuration: configuration) { server in
            // Once the answer has started (its head read), it reads nothing for six send timeouts
            // (the server closes meanwhile: the kernel still delivers what it had taken), then
            // reads what is left until the connection ends.
            try await runHostile(
                """
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", PORT))
                s.settimeout(30)
                s.sendall(b"GET /one HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                head = b""
                while b"\\r\\n\\r\\n" not in head:
                    head += s.recv(1)
                time.sleep(6)
                data, end = bytearray(head), "closed"
                try:
                    while True:
                        chunk = s.recv(1 << 20)
                        if not chunk:
                            break
                        data.extend(chunk)
                except ConnectionResetError:
                    end = "reset"
                except socket.timeout:
                    end = "timeout"
                emit({"received": len(data), "end": end, "next": normal("/")})
                """,
                port: server.port
            )
        }
        let received = try #require(result["received"] as? Int, "\(result)")
        #expect(received < Self.size, "\(result)")
        #expect(result["end"] as? String != "timeout", "\(result)")
        #expect(result["next"] as? String == "200 ok", "\(result)")
    }
}
