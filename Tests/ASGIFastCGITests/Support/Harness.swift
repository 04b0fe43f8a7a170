import ASGI
import ASGIFastCGI
import Foundation
import Glibc
import InMemoryLogging
import Logging
import ServiceLifecycle
import Synchronization
import TestSupport

/// An HTTP response as curl saw it.
struct HTTPResult: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    func headers(_ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
}

let curlExecutable = "/usr/bin/curl"
private let curlCounter = Atomic<Int>(0)

/// Runs curl against `url` (extra arguments before it) and returns the response.
func curl(_ url: String, _ arguments: [String] = [], in directory: TestDirectory) async throws -> HTTPResult {
    let number = curlCounter.add(1, ordering: .relaxed).newValue
    let bodyPath = directory.file("curl-\(number).body")
    let headersPath = directory.file("curl-\(number).headers")
    let process = try ChildProcess(
        curlExecutable,
        ["-sS", "--max-time", "30", "-o", bodyPath, "-D", headersPath, "-w", "%{http_code}"] + arguments + [url],
        stdoutPath: directory.file("curl-\(number).out"),
        stderrPath: directory.file("curl-\(number).err")
    )
    let exit = try await process.wait(timeout: .seconds(40))
    guard exit == 0 else { throw TestFailure("curl \(url) exited \(exit): \(process.standardError)") }
    return try readCurlResult(status: process.standardOutput, headersPath: headersPath, bodyPath: bodyPath)
}

func readCurlResult(status: String, headersPath: String, bodyPath: String) throws -> HTTPResult {
    let body = (try? Data(contentsOf: URL(fileURLWithPath: bodyPath))).map { [UInt8]($0) } ?? []
    let rawHeaders = (try? String(contentsOfFile: headersPath, encoding: .isoLatin1)) ?? ""
    let blocks = rawHeaders.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
    var headers: [(String, String)] = []
    for line in (blocks.last ?? "").components(separatedBy: "\r\n").dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
    }
    return HTTPResult(status: Int(status.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, headers: headers, body: body)
}

/// A logger that keeps what it logs, for assertions.
struct CapturedLogs: Sendable {
    let handler = InMemoryLogHandler()
    var logger: Logger {
        var logger = Logger(label: "fastcgi-test") { _ in handler }
        logger.logLevel = .info
        return logger
    }
    var messages: [String] { handler.entries.map { $0.message.description } }
    func contains(_ text: String) -> Bool { messages.contains { $0.contains(text) } }
}

/// Runs `server` in a `ServiceGroup` while `body` runs, then shuts it down gracefully.
func withServer<R: Sendable>(
    _ server: FastCGIServer,
    _ body: @Sendable (FastCGIServer) async throws -> R
) async throws -> R {
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
            services: [.init(service: server)],
            logger: Logger(label: "fastcgi-test-group") { _ in SwiftLogNoOpLogHandler() }
        )
    )
    return try await withThrowingTaskGroup(of: R?.self) { tasks in
        tasks.addTask {
            try await group.run()
            return nil
        }
        do {
            try await waitUntilListening(server.configuration.bind)
            // The readiness probe is a connection too: let the server count it before the test
            // reads any counter.
            try await eventually("the probe connection counted") { server.status.acceptedConnections >= 1 }
            let result = try await body(server)
            await group.triggerGracefulShutdown()
            while let value = try await tasks.next() { _ = value }
            return result
        } catch {
            await group.triggerGracefulShutdown()
            tasks.cancelAll()
            throw error
        }
    }
}

/// Waits until the server's socket accepts connections.
func waitUntilListening(_ bind: FastCGIConfiguration.Bind) async throws {
    switch bind {
    case .unix(let path, _):
        try await eventually("socket \(path)") { canConnect(unixPath: path) }
    case .tcp(_, let port):
        try await eventually("port \(port)") { canConnect(port: port) }
    case .inherited:
        break
    }
}

/// A value shared between an application and the test.
final class Shared<T: Sendable>: Sendable {
    private let value: Mutex<T>
    init(_ value: T) { self.value = Mutex(value) }
    var current: T { value.withLock { $0 } }
    func update(_ change: (inout T) -> Void) { value.withLock { change(&$0) } }
}

/// A string of the environ as JSON: what an echo application answers.
func jsonBody(_ object: [String: Any]) -> [UInt8] {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    return [UInt8](data)
}

/// The path of an executable built beside the test bundle (`swift build --build-tests` builds it).
func builtExecutable(_ name: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { throw TestFailure("cannot read /proc/self/exe") }
    let exe = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw TestFailure("\(name) is not built next to \(exe): run `swift build --build-tests` first")
}

/// Writes `chunk` `times` times to a new file with plain write(2) calls: no large buffers in this
/// process (other suites measure its resident memory).
func writeRepeated(_ chunk: [UInt8], times: Int, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw TestFailure("open \(path) failed: errno \(errno)") }
    defer { close(fd) }
    for _ in 0..<times {
        var offset = 0
        while offset < chunk.count {
            let written = chunk[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw TestFailure("write \(path) failed: errno \(errno)") }
            offset += written
        }
    }
}

/// Runs `body`; if it throws, runs `cleanup` (stop the processes, open the gates) before rethrowing.
func onFailure<R>(_ cleanup: () async -> Void, _ body: () async throws -> R) async throws -> R {
    do {
        return try await body()
    } catch {
        await cleanup()
        throw error
    }
}
