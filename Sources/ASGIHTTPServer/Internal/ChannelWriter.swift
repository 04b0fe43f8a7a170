import ASGI
import NIOCore
import Synchronization

/// Writes to a channel from a task, with back-pressure that cannot be outrun.
///
/// A write hands its parts to the event loop in one hop and flushes; the bytes count as in flight
/// until NIO reports them written to the socket. While more than `highWatermark` bytes are in
/// flight the next write waits until they drain below `lowWatermark`, so a fast producer facing a
/// slow client holds at most about `highWatermark` plus one write in memory. (NIO's async writer
/// learns of unwritability only after the event loop has processed what was queued, which lets a
/// producer faster than the loop queue far more.)
final class ChannelWriter<Part: Sendable>: Sendable {
    private struct State {
        var inFlight = 0
        var failed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    let channel: any Channel
    private let highWatermark: Int
    private let lowWatermark: Int
    private let state = Mutex(State())

    init(channel: any Channel, highWatermark: Int = 256 * 1024, lowWatermark: Int = 64 * 1024) {
        self.channel = channel
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    /// Whether a write has failed (the connection is gone).
    var hasFailed: Bool { state.withLock { $0.failed } }

    /// Writes `parts` (`bytes` of payload among them) and flushes; with `waitForCompletion`,
    /// returns only once they reached the socket.
    /// - Throws: `ClientDisconnectedError` once a write has failed or the channel closed.
    func write(_ parts: [Part], bytes: Int, waitForCompletion: Bool = false) async throws {
        try await waitForRoom()
        state.withLock { $0.inFlight += bytes }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let channel = self.channel
        let writeParts: @Sendable () -> Void = {
            for part in parts.dropLast() {
                channel.write(part, promise: nil)
            }
            if let last = parts.last {
                channel.writeAndFlush(last, promise: promise)
            } else {
                promise.succeed()
            }
        }
        if channel.eventLoop.inEventLoop {
            // A task running on the loop (`runsOnEventLoops`) writes at once: queuing the writes
            // behind it would let a close issued right after (which runs at once on the loop)
            // overtake them.
            writeParts()
        } else {
            channel.eventLoop.execute(writeParts)
        }
        promise.futureResult.whenComplete { result in
            self.completed(bytes: bytes, failed: { if case .failure = result { return true } else { return false } }())
        }
        if waitForCompletion {
            do {
                try await promise.futureResult.get()
            } catch {
                throw ClientDisconnectedError.connectionClosed
            }
        }
    }

    private func completed(bytes: Int, failed: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= bytes
            if failed { state.failed = true }
            guard state.failed || state.inFlight <= lowWatermark else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Fails waiting and later writes: the channel closed.
    func channelClosed() {
        completed(bytes: 0, failed: true)
    }

    private func waitForRoom() async throws {
        while true {
            let ready = state.withLock { state -> Bool? in
                if state.failed { return nil }
                return state.inFlight <= highWatermark
            }
            switch ready {
            case .none:
                throw ClientDisconnectedError.connectionClosed
            case .some(true):
                return
            case .some(false):
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { state -> Bool in
                        if state.failed || state.inFlight <= highWatermark { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
        }
    }
}
