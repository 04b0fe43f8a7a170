import Synchronization

/// Request-scoped storage that follows a logical request across the sync/async bridge.
///
/// `Local` is the bridge-aware counterpart of a thread-local or a `TaskLocal`: a value set on one
/// side of ``syncToAsync(threadSensitive:executor:_:)`` or ``asyncToSync(_:)`` is visible on the
/// other, and a value the other side sets is visible to the caller once the call returns. Values
/// are never seen by unrelated threads or tasks.
///
/// Values live in *scopes*. Every bridge crossing opens one for the code it runs (seeded with the
/// caller's values, its changes copied back when it returns), as do `withValue(_:operation:)`
/// and ``LocalScope``; in synchronous code outside any scope the thread itself is the
/// scope. Code that inherits a scope (a child task, a `Task {}` started inside it) reads its values
/// but writes only inside a scope of its own, so its changes never leak into its parent.
///
/// ```swift
/// let user = Local<String>()
/// try await LocalScope.run {
///     try user.set("ada")
///     try await syncToAsync { precondition(user.value == "ada"); try user.set("grace") }()
///     precondition(user.value == "grace")
/// }
/// ```
///
/// With `threadCritical: true` a value stays with one thread in synchronous code (like a
/// thread-local, whatever the scope) and with one task in asynchronous code, and never crosses a
/// bridge: the place for handles bound to a thread, such as database connections.
public final class Local<Value: Sendable>: Sendable {
    private static var nextKey: UInt64 { localKeys.add(1, ordering: .relaxed).newValue }

    /// The storage key: unique for the life of the process, never reused by a later `Local`.
    let key: UInt64
    /// Whether values stay with one thread (sync code) or one task (async code).
    public let threadCritical: Bool

    /// Creates a `Local` with no value anywhere.
    /// - Parameter threadCritical: keep values to one thread or task instead of the logical request.
    public init(threadCritical: Bool = false) {
        self.key = Self.nextKey
        self.threadCritical = threadCritical
    }

    /// The value in the current context, or `nil` when none is set.
    public var value: Value? {
        if threadCritical {
            if isInsideTask() {
                guard let scope = BridgeState.current.locals else { return nil }
                return scope.readCritical(key, as: .current) as? Value
            }
            return LocalStorage.threadScope.readCritical(key, as: .current) as? Value
        }
        return LocalStorage.current?.read(key) as? Value
    }

    /// Sets (or with `nil` deletes) the value in the current context.
    ///
    /// - Throws: ``BridgeError`` with code `noLocalScope` when called from a task that does not own
    ///   the current scope (a child task, or a task outside every scope): open one with
    ///   ``LocalScope`` or `withValue(_:operation:)`. Synchronous code always has
    ///   a scope (its thread's, if no other), so it never throws there.
    public func set(_ value: Value?) throws {
        let owner = LocalOwner.current
        let scope: LocalStorage?
        if threadCritical, !isInsideTask() {
            scope = LocalStorage.threadScope
        } else {
            scope = LocalStorage.current
        }
        guard let scope, scope.write(key, value, as: owner, critical: threadCritical) else {
            throw BridgeError.noLocalScope
        }
    }

    /// Runs `operation` in a new scope where this `Local` has `value`; the previous value returns
    /// afterwards. Changes made inside to *other* `Local`s are kept, as for a bridge crossing.
    public func withValue<R>(_ value: Value, operation: () throws -> R) rethrows -> R {
        try Self.withScope(setting: self, to: value, operation)
    }

    /// Runs `operation` in a new scope where this `Local` has `value`; the previous value returns
    /// afterwards. Changes made inside to *other* `Local`s are kept, as for a bridge crossing.
    public func withValue<R>(
        _ value: Value,
        isolation: isolated (any Actor)? = #isolation,
        operation: () async throws -> R
    ) async rethrows -> R {
        try await Self.withScope(setting: self, to: value, isolation: isolation, operation)
    }
}

private let localKeys = Atomic<UInt64>(0)

extension Local {
    fileprivate static func openScope<V>(setting local: Local<V>?, to value: V?) -> (LocalStorage, LocalStorage?, LocalOwner) {
        let owner = LocalOwner.current
        let outer = LocalStorage.current
        var values = outer?.values ?? [:]
        if let local, !local.threadCritical { values[local.key] = value }
        let scope = LocalStorage(owner: owner, values: values)
        if let local, local.threadCritical {
            _ = scope.write(local.key, value, as: owner, critical: true)
        }
        return (scope, outer, owner)
    }

    fileprivate static func closeScope<V>(_ scope: LocalStorage, outer: LocalStorage?, owner: LocalOwner, setting local: Local<V>?) {
        scope.close()
        guard let outer, outer.isOwned(by: owner) else { return }
        outer.merge(scope.changes, excluding: local?.key)
    }

    /// Runs `body` in a new scope with no values, owned by the caller, whose changes go nowhere.
    static func withFreshScope<R>(_ body: () throws -> R) rethrows -> R {
        let scope = LocalStorage(owner: LocalOwner.current, values: [:])
        var state = BridgeState.current
        state.locals = scope
        defer { scope.close() }
        return try BridgeState.$current.withValue(state, operation: body)
    }

    static func withScope<V, R>(setting local: Local<V>?, to value: V?, _ body: () throws -> R) rethrows -> R {
        if let local, local.threadCritical, !isInsideTask() {
            // Thread-critical values in sync code belong to the thread, not to a scope.
            let thread = LocalStorage.threadScope
            let previous = thread.readCritical(local.key, as: .current)
            _ = thread.write(local.key, value, as: .current, critical: true)
            defer { _ = thread.write(local.key, previous, as: .current, critical: true) }
            return try body()
        }
        let (scope, outer, owner) = openScope(setting: local, to: value)
        var state = BridgeState.current
        state.locals = scope
        defer { closeScope(scope, outer: outer, owner: owner, setting: local) }
        return try BridgeState.$current.withValue(state, operation: body)
    }

    static func withScope<V, R>(
        setting local: Local<V>?,
        to value: V?,
        isolation: isolated (any Actor)?,
        _ body: () async throws -> R
    ) async rethrows -> R {
        let (scope, outer, owner) = openScope(setting: local, to: value)
        var state = BridgeState.current
        state.locals = scope
        defer { closeScope(scope, outer: outer, owner: owner, setting: local) }
        return try await BridgeState.$current.withValue(state, operation: body, isolation: isolation)
    }
}
