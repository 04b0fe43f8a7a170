import ASGI
import ASGIHTTPServer
import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

/// A legacy handler that runs a program (sendmail, ImageMagick, a shell) while other clients are
/// connected: the program must not inherit the server's sockets.
///
/// The application here spawns `sleep` with plain `posix_spawn` and no file actions, as C code or
/// `system()` would: it inherits every descriptor not marked close-on-exec. The scenarios start no
/// `ChildProcess` (it marks the test process's descriptors close-on-exec before it spawns, which
/// would hide what they check; one another suite starts at the same moment can only make a broken
/// server pass, never a correct one fail), and the clients are raw sockets.
@Suite(.timeLimit(.minutes(1)))
struct SpawningApplicationTests {
    /// An application that answers `/spawn` after starting `sleep 60`, and anything else at once.
    private final class SpawningApp: Sendable {
        private let children = Mutex<[pid_t]>([])

        var application: ASGIApp {
            ASGIApp { [self] scope, receive, send in
                guard case .http(let http) = scope else { return }
                _ = try await readBody(receive)
                if http.path == "/spawn" {
                    let pid = try spawnSleep()
                    children.withLock { $0.append(pid) }
                    try await respond(send, "spawned")
                } else {
                    try await respond(send, "served \(http.path)")
                }
            }
        }

        private func spawnSleep() throws -> pid_t {
            var pid = pid_t()
            let arguments = ["/bin/sleep", "60"]
            var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            defer { for argument in argv { free(argument) } }
            let result = posix_spawn(&pid, "/bin/sleep", nil, nil, &argv, environ)
            guard result == 0 else { throw TestFailure("posix_spawn /bin/sleep failed: \(result)") }
            return pid
        }

        /// Stops the programs the application started, by PID.
        func stopChildren() {
            for pid in children.withLock({ $0 }) {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
    }

    /// How a scenario gives the server its socket.
    enum Listening: CaseIterable, CustomTestStringConvertible {
        /// The server binds it (`host` and `port`).
        case bound
        /// It is handed one (`listeningSocket`), as the `Gateway` runner's workers are.
        case handed

        var testDescription: String { self == .bound ? "bound by the server" : "handed to the server" }
    }

    @Test("A program the application runs does not keep connections open: the server's close reaches the client", arguments: Listening.allCases)
    func closeReachesClient(listening: Listening) async throws {
        let app = SpawningApp()
        defer { app.stopChildren() }
        var handed: Int32 = -1
        if listening == .handed {
            handed = try TCPListener.bind(host: "127.0.0.1", port: 0, backlog: 64)
        }
        // The idle timeout closes the connection with a plain close (a response with
        // `Connection: close` shuts the sending side down first, which a copy of the descriptor
        // elsewhere would not hold back).
        let configuration = testConfiguration { [handed] in
            $0.idleTimeout = .milliseconds(500)
            if handed >= 0 { $0.listeningSocket = .descriptor(handed) }
        }
        let response = try await withServer(app.application, configuration: configuration) { server in
            try await offPool {
                // The request runs a program while its own connection is open; once answered, the
                // connection idles until the server closes it. The end must reach the client
                // although the program is still running.
                let client = try RawClient(port: server.port)
                defer { client.close() }
                return try client.request("GET /spawn HTTP/1.1\r\nHost: x\r\n\r\n", thenEnd: true)
            }
        }
        #expect(response.hasSuffix("spawned"))
    }

    @Test("A program the application runs does not keep the port: once the server stops, connections are refused")
    func portFreedAfterStop() async throws {
        let app = SpawningApp()
        defer { app.stopChildren() }
        let port = try await withServer(app.application) { server in
            try await offPool {
                let client = try RawClient(port: server.port)
                defer { client.close() }
                _ = try client.request("GET /spawn HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            return server.port
        }
        // `sleep` is still running; had it inherited the listening socket, the kernel would still
        // accept connections for it.
        let refused = try await offPool { () -> Bool in
            do {
                let client = try RawClient(port: port)
                client.close()
                return false
            } catch {
                return true
            }
        }
        #expect(refused, "a connection to \(port) was accepted after the server stopped")
    }
}

/// A blocking HTTP/1.1 client on a raw socket (call it off the cooperative pool), itself
/// close-on-exec so that it is not the descriptor a spawned program holds.
private struct RawClient {
    let fd: Int32

    init(port: Int) throws {
        fd = try connectToLoopback(port: port, timeout: .seconds(20))
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// Sends `request` and reads one response with a Content-Length body; with `thenEnd`, then
    /// reads until the server ends the connection (throws if it does not within 20 s). Returns the
    /// response as text.
    func request(_ request: String, thenEnd: Bool = false) throws -> String {
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw TestFailure("sending failed: errno \(errno)")
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while !Self.isComplete(received) || thenEnd {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received.append(contentsOf: buffer[..<count])
            } else if count == 0 {
                guard Self.isComplete(received) else { throw TestFailure("the connection ended after \(received.count) bytes") }
                break
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                let state = Self.isComplete(received) ? "the whole response but no end of the connection" : "\(received.count) bytes"
                throw TestFailure("no end within 20 s: got \(state)")
            } else {
                throw TestFailure("reading failed: errno \(errno)")
            }
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() { Glibc.close(fd) }

    private static func isComplete(_ received: [UInt8]) -> Bool {
        let text = String(decoding: received, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return false }
        return text.utf8.count - text[..<end.upperBound].utf8.count >= length
    }
}
