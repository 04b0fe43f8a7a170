import Synchronization

/// A thread-safe list of values that applications and threads under test record into.
package final class Recorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    package init() {}

    /// Appends `item`.
    package func append(_ item: Element) { items.withLock { $0.append(item) } }

    /// Everything recorded so far, in order.
    package var values: [Element] { items.withLock { $0 } }
}
