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

/// A queue test code awaits with a generous safety limit, so a broken implementation fails the
/// test instead of hanging it. The limit is never what a test asserts on.
final class Mailbox<T: Sendable>: Sendable {
    private let queue = AsyncEventQueue<T>()
    func put(_ item: T) { queue.push(item) }
    func next() async throws -> T {
        try await withTimeout(.seconds(5)) { [queue] in try await queue.pop() }
    }
}
