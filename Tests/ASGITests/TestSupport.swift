import AsyncBridge
import Logging
import Synchronization
import Testing

@testable import ASGI

/// An error a test application throws on purpose.
struct TestError: Error, Equatable, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { "TestError(\(message))" }
}

/// A thread-safe list of values that test applications record into.
final class Recorder<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ item: T) { items.withLock { $0.append(item) } }
    var values: [T] { items.withLock { $0 } }
}

/// A queue test code awaits with a generous safety limit, so a broken implementation fails the
/// test instead of hanging it. The limit is never what a test asserts on.
final class Mailbox<T: Sendable>: Sendable {
    private let queue = AsyncEventQueue<T>()
    func put(_ item: T) { queue.push(item) }
    func next() async throws -> T {
        try await withTimeout(.seconds(5)) { [queue] in try await queue.pop() }
    }
}

/// A `LogHandler` that posts every message (with its `scope_id`, if any) to a mailbox.
struct CapturingLogHandler: LogHandler {
    let mailbox: Mailbox<String>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let scopeID = event.metadata?["scope_id"].map { " \($0)" } ?? ""
        mailbox.put("\(event.message)\(scopeID)")
    }
}

extension Mailbox where T == String {
    /// Waits for the message `expected`, skipping others.
    func waitFor(_ expected: String) async throws {
        while try await next() != expected {}
    }
}
