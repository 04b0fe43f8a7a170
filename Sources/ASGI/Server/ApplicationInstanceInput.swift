/// Where a ``StatelessServer`` puts the events for one application instance: its `receive()` side.
///
/// ```swift
/// let input = getOrCreateApplicationInstance(scopeID: sender, scope: scope)
/// input.send(.websocketReceive(text: line))
/// ```
public struct ApplicationInstanceInput: Sendable {
    let queue: AsyncEventQueue<ReceiveEvent>

    init(queue: AsyncEventQueue<ReceiveEvent>) {
        self.queue = queue
    }

    /// Queues `event` for the instance's next `receive()`. The queue is unbounded: the instance
    /// reads at its own pace, and `send` never waits.
    /// - Returns: `false` (the event is dropped) if the instance has finished or was deleted.
    @discardableResult
    public func send(_ event: ReceiveEvent) -> Bool {
        queue.push(event)
    }
}
