import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Who may write to a ``LocalStorage``: the thread or the task that opened it.
enum LocalOwner: Equatable, Sendable {
    case thread(UInt)
    case task(UInt)
    case unclaimed
    /// The scope has ended: nobody writes to it any more.
    case closed

    /// The calling context: its task if it runs in one, else its thread.
    static var current: LocalOwner {
        if let task = withUnsafeCurrentTask(body: { task -> UInt? in
            guard let task else { return nil }
            return unsafeBitCast(task, to: UInt.self)
        }) {
            return .task(task)
        }
        #if canImport(Darwin)
        return .thread(UInt(bitPattern: currentThreadID()))
        #else
        return .thread(UInt(currentThreadID()))
        #endif
    }
}

/// The `Local` values of one scope: a request crossing the bridge, a `Local.withValue` block, a
/// `Local.withScope` block, or a plain thread.
///
/// Only the owner writes; code that inherits the scope (child tasks, tasks started from sync code)
/// reads it. Writes remember their keys, so a bridge can copy exactly the changes back to the
/// caller's scope when it returns.
///
/// Unchecked `Sendable`: its only stored property, `state`, is a `Mutex` (all its mutable state is
/// behind it); the compiler cannot check it only because the class is not final (`SyncCallBase`
/// extends it, and states its own invariant).
class LocalStorage: @unchecked Sendable {
    struct State {
        var owner: LocalOwner
        var values: [UInt64: any Sendable]
        var critical: [UInt64: any Sendable] = [:]
        var changed: Set<UInt64> = []
    }

    let state: Mutex<State>

    init(owner: LocalOwner, values: [UInt64: any Sendable]) {
        state = Mutex(State(owner: owner, values: values))
    }

    /// Makes a closed scope new again, unclaimed and seeded with `values`, for reuse by the next
    /// crossing on the same thread. Only for a scope nothing else references any more (checked with
    /// `isKnownUniquelyReferenced`), so no stale holder can see it reopen.
    func reset(values: [UInt64: any Sendable]) {
        state.withLock { state in
            state = State(owner: .unclaimed, values: values)
        }
    }

    /// Claims an unclaimed scope for the calling context (used by a task that was handed a scope
    /// made before it started).
    func claim() {
        let owner = LocalOwner.current
        state.withLock { if $0.owner == .unclaimed { $0.owner = owner } }
    }

    /// Ends the scope: later writes (from tasks that outlived it) are refused.
    func close() {
        state.withLock { $0.owner = .closed }
    }

    var values: [UInt64: any Sendable] {
        state.withLock { $0.values }
    }

    func isOwned(by owner: LocalOwner) -> Bool {
        state.withLock { $0.owner == owner }
    }

    func read(_ key: UInt64) -> (any Sendable)? {
        state.withLock { $0.values[key] }
    }

    func readCritical(_ key: UInt64, as owner: LocalOwner) -> (any Sendable)? {
        state.withLock { $0.owner == owner ? $0.critical[key] : nil }
    }

    /// Writes as `owner`; `false` if `owner` does not own the scope.
    func write(_ key: UInt64, _ value: (any Sendable)?, as owner: LocalOwner, critical: Bool) -> Bool {
        state.withLock { state in
            guard state.owner == owner, owner != .closed else { return false }
            if critical {
                state.critical[key] = value
            } else {
                state.values[key] = value
                state.changed.insert(key)
            }
            return true
        }
    }

    /// The keys written in this scope with their final values (`nil`: deleted).
    var changes: [(UInt64, (any Sendable)?)] {
        state.withLock { state in state.changed.map { ($0, state.values[$0]) } }
    }

    /// Applies another scope's changes as if the owner had written them.
    func merge(_ changes: [(UInt64, (any Sendable)?)], excluding excluded: UInt64? = nil) {
        guard !changes.isEmpty else { return }
        state.withLock { state in
            for (key, value) in changes where key != excluded {
                state.values[key] = value
                state.changed.insert(key)
            }
        }
    }

    /// The scope of the calling code: the bound one, or in plain sync code the thread's own.
    static var current: LocalStorage? {
        if let scope = BridgeState.current.locals { return scope }
        return isInsideTask() ? nil : threadScope
    }

    /// The calling thread's own scope, made on first use and released when the thread exits.
    static var threadScope: LocalStorage {
        let key = threadScopeKey
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<LocalStorage>.fromOpaque(pointer).takeUnretainedValue()
        }
        let scope = LocalStorage(owner: .current, values: [:])
        pthread_setspecific(key, Unmanaged.passRetained(scope).toOpaque())
        return scope
    }

    private static let threadScopeKey: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { pointer in
            #if canImport(Darwin)
            Unmanaged<LocalStorage>.fromOpaque(pointer).release()
            #else
            if let pointer { Unmanaged<LocalStorage>.fromOpaque(pointer).release() }
            #endif
        }
        precondition(rc == 0, "pthread_key_create failed")
        return key
    }()
}
