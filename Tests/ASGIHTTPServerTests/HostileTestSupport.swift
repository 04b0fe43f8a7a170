import ASGI
import ASGIHTTPServer
import Foundation
import TestSupport
import Testing

/// A raw HTTP/1.1 client in Python for hostile tests: it sends bytes exactly as given, reads the
/// answers as a strict client would (by `Content-Length`, chunked, or to the end of the
/// connection), and says how the connection ended.
///
/// A script built with ``hostileScript(_:)`` has `PORT` and these functions:
/// - `connect()`: a socket to the server (30 s timeout on every read);
/// - `read_response(s, buf)`: `(response, rest)`, `response` a dict with `status`, `headers`
///   (lower-case names, lists of values) and `body`, or `None` when the connection ended first;
///   `rest` what followed the response;
/// - `ending(s, rest)`: `"closed"` when the server closes with nothing more sent, `"reset"`,
///   `"timeout"`, or `"extra:<bytes>"` when more bytes came (a response the client never asked
///   for, or body past the framing);
/// - `normal(path)`: a plain `GET` on a new connection, `"<status> <body>"`;
/// - `emit(value)`: prints `value` as JSON (the test's result).
let hostileClientPrelude = #"""
    import json, socket, sys, time
    PORT = int(sys.argv[1])

    def connect():
        s = socket.create_connection(("127.0.0.1", PORT))
        s.settimeout(30)
        return s

    def _fill(s, buf):
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError()
        return buf + chunk

    def read_response(s, buf=b"", head_only=False):
        try:
            while b"\r\n\r\n" not in buf:
                buf = _fill(s, buf)
            head, _, rest = buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ")[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers.setdefault(name.strip().lower().decode(), []).append(value.strip().decode("latin-1"))
            response = {"status": status, "headers": headers, "body": ""}
            if head_only or status < 200 or status in (204, 304):
                return response, rest
            if "content-length" in headers:
                length = int(headers["content-length"][0])
                while len(rest) < length:
                    rest = _fill(s, rest)
                response["body"] = rest[:length].decode("latin-1")
                return response, rest[length:]
            if "chunked" in ",".join(headers.get("transfer-encoding", [])):
                body = b""
                while True:
                    while b"\r\n" not in rest:
                        rest = _fill(s, rest)
                    size_line, _, rest = rest.partition(b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    while len(rest) < size + 2:
                        rest = _fill(s, rest)
                    body += rest[:size]
                    rest = rest[size + 2:]
                    if size == 0:
                        break
                response["body"] = body.decode("latin-1")
                return response, rest
            while True:
                try:
                    rest = _fill(s, rest)
                except EOFError:
                    break
            response["body"] = rest.decode("latin-1")
            return response, b""
        except (EOFError, ConnectionResetError, socket.timeout):
            return None, buf

    def ending(s, rest=b""):
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except ConnectionResetError:
            return "reset" if not rest else "extra:" + rest.decode("latin-1")
        except socket.timeout:
            return "timeout" if not rest else "extra:" + rest.decode("latin-1")
        return "closed" if not rest else "extra:" + rest.decode("latin-1")

    def normal(path="/"):
        s = connect()
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: normal\r\nConnection: close\r\n\r\n")
        response, _ = read_response(s)
        s.close()
        if response is None:
            return "no answer"
        return "%d %s" % (response["status"], response["body"])

    def emit(value):
        print(json.dumps(value))
    """#

/// The prelude followed by `body`.
func hostileScript(_ body: String) -> String {
    hostileClientPrelude + "\n" + body
}

/// What a hostile script emitted (JSON values, never mutated once decoded).
struct HostileResult: @unchecked Sendable, CustomStringConvertible {
    let values: [String: Any]
    subscript(key: String) -> Any? { values[key] }
    var description: String { "\(values)" }
}

/// Runs a hostile script against `port` and decodes what it emitted.
func runHostile(_ body: String, port: Int) async throws -> HostileResult {
    HostileResult(values: try json(try await python(hostileScript(body), ["\(port)"])))
}

/// A response the script emitted: its status, one header's first value, its body.
struct RawResponse {
    var status: Int
    var headers: [String: [String]]
    var body: String

    init?(_ value: Any?) {
        guard let object = value as? [String: Any], let status = object["status"] as? Int else { return nil }
        self.status = status
        self.headers = object["headers"] as? [String: [String]] ?? [:]
        self.body = object["body"] as? String ?? ""
    }

    func header(_ name: String) -> String? { headers[name]?.first }
}

/// The descriptors this process holds for TCP connections whose local port is `port`: the
/// connections a server on that port has accepted and not closed (its listening socket is not
/// counted). Read from `/proc/net/tcp{,6}` and matched by inode against `/proc/self/fd`, so it
/// counts this process's descriptors only, whatever other tests running in parallel open.
func connectionDescriptors(port: Int) -> Int {
    var inodes = Set<String>()
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for fd in fds {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
            target.hasPrefix("socket:[")
        else { continue }
        inodes.insert(String(target.dropFirst("socket:[".count).dropLast()))
    }
    var count = 0
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // Read to the end: a /proc file says it is empty and comes a page at a time.
        guard let handle = FileHandle(forReadingAtPath: table), let bytes = try? handle.readToEnd() else { continue }
        try? handle.close()
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, let colon = fields[1].lastIndex(of: ":"),
                Int(fields[1][fields[1].index(after: colon)...], radix: 16) == port,
                fields[3] != "0A"  // LISTEN
            else { continue }
            if inodes.contains(String(fields[9])) { count += 1 }
        }
    }
    return count
}

/// Runs a hostile scenario against a server as ``withServer(_:configuration:logger:_:)`` does,
/// and checks the server's resources after it: once `body` is done (the misbehaving client is
/// gone), the descriptors the server holds for connections must return to what they were when it
/// started listening, within `releaseWithin` (60 seconds; polled: the server closes what is left on its own
/// timers). A descriptor still held then is a leak, and fails the test.
func withHostileServer<R: Sendable>(
    _ app: any ASGIApplication,
    configuration: HTTPServerConfiguration = testConfiguration(),
    releaseWithin: Duration = .seconds(60),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @Sendable (TestServer) async throws -> R
) async throws -> R {
    try await withServer(app, configuration: configuration) { server in
        let baseline = connectionDescriptors(port: server.port)
        let result = try await body(server)
        let deadline = ContinuousClock.now + releaseWithin
        var held = connectionDescriptors(port: server.port)
        while held > baseline && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            held = connectionDescriptors(port: server.port)
        }
        if held > baseline {
            Issue.record(
                "The server still holds \(held) connection descriptors after the scenario (\(baseline) before it)",
                sourceLocation: sourceLocation
            )
        }
        return result
    }
}
