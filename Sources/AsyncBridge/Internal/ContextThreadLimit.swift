import DequeModule
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The bound on the threads ``ThreadSensitiveContext`` lends out: a context takes a permit before
/// it takes a thread, and gives it back once its thread has drained the context's work (a thread
/// still busy with a cancelled caller's body keeps its permit, because it still exists).
///
/// When every permit is out, a new context waits, first come first served, for one to come back,
/// so a flood of thread-sensitive requests queues instead of creating a thread each until thread
/// creation fails and the process traps.
final class ContextThreadLimit: Sendable {
    /// The limit every ``ThreadSensitiveContext`` shares: `ASGI_CONTEXT_THREADS` if that
    /// environment variable holds a positive number, else ``defaultLimit``.
    static let shared = ContextThreadLimit(
        limit: {
            if let raw = getenv("ASGI_CONTEXT_THREADS"), let value = Int(String(cString: raw)), value > 0 {
                return value
            }
            return defaultLimit
        }()
    )

    /// Threads lent to contexts at once by default.
    static let defaultLimit = 64

    /// A context waiting for a permit.
    ///
    /// Unchecked `Sendable`: `continuation` and `cancelled` are read and written only inside
    /// `state.withLock` of the limit that made it (a lock of its own would only repeat that one).
    private final class Waiter: @unchecked Sendable {
        var continuation: UnsafeContinuation<Bool, Never>?
        var cancelled = false
    }

    private struct State {
        var limit: Int
        var inUse = 0
        var waiters = Deque<Waiter>()
    }

    private let state: Mutex<State>

    init(limit: Int) {
        precondition(limit >= 1, "a context thread limit must be at least 1")
        state = Mutex(State(limit: limit))
    }

    /// The most permits out at once. Raising it serves waiting contexts at once; lowering it takes
    /// effect as permits come back.
    var limit: Int {
        get { state.withLock { $0.limit } }
        set {
            precondition(newValue >= 1, "ThreadSensitiveContext.threadLimit must be at least 1")
            let served = state.withLock { state -> [UnsafeContinuation<Bool, Never>] in
                state.limit = newValue
                var served: [UnsafeContinuation<Bool, Never>] = []
                while state.inUse < state.limit, let waiter = state.waiters.popFirst() {
                    state.inUse += 1
                    if let continuation = waiter.continuation { served.append(continuation) }
                    waiter.continuation = nil
                }
                return served
            }
            for continuation in served { continuation.resume(returning: true) }
        }
    }

    /// Permits out now.
    var inUse: Int { state.withLock { $0.inUse } }

    /// Contexts waiting for a permit now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes a permit, waiting while none is free.
    /// - Returns: `false` if the calling task was cancelled before it got one (it holds none then).
    func acquire(isolation: isolated (any Actor)? = #isolation) async -> Bool {
        if state.withLock({ state -> Bool in
            guard state.inUse < state.limit, state.waiters.isEmpty else { return false }
            state.inUse += 1
            return true
        }) {
            return true
        }
        let waiter = Waiter()
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
                let granted = state.withLock { state -> Bool? in
                    if waiter.cancelled { return false }
                    if state.inUse < state.limit, state.waiters.isEmpty {
                        state.inUse += 1
                        return true
                    }
                    waiter.continuation = continuation
                    state.waiters.append(waiter)
                    return nil
                }
                if let granted { continuation.resume(returning: granted) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> UnsafeContinuation<Bool, Never>? in
                waiter.cancelled = true
                guard let continuation = waiter.continuation else { return nil }
                waiter.continuation = nil
                if let index = state.waiters.firstIndex(where: { $0 === waiter }) {
                    state.waiters.remove(at: index)
                }
                return continuation
            }
            continuation?.resume(returning: false)
        }
    }

    /// Gives a permit back, to the longest-waiting context if there is one.
    func release() {
        let next = state.withLock { state -> UnsafeContinuation<Bool, Never>? in
            if state.inUse <= state.limit, let waiter = state.waiters.popFirst() {
                // The permit passes straight to the waiter: `inUse` is unchanged.
                defer { waiter.continuation = nil }
                return waiter.continuation
            }
            state.inUse -= 1
            return nil
        }
        next?.resume(returning: true)
    }
}
