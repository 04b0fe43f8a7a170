/// Opens a scope for ``Local`` values owned by the calling task or thread.
///
/// A task writes `Local` values only in a scope it owns. The bridge opens one for every crossing
/// and the ASGI servers for every request; open one yourself at the top of a task of your own that
/// sets values (a child task inherits its parent's values but not the right to change them).
///
/// ```swift
/// let requestID = Local<String>()
/// await LocalScope.run {
///     try? requestID.set("r-1")
/// }
/// ```
public enum LocalScope {
    /// Runs `body` in a new scope seeded with the current values; afterwards the body's changes
    /// are copied to the enclosing scope if the caller owns it.
    public static func run<R>(_ body: () throws -> R) rethrows -> R {
        try Local<Never>.withScope(setting: nil as Local<Never>?, to: nil, body)
    }

    /// Runs `body` in a new scope seeded with the current values; afterwards the body's changes
    /// are copied to the enclosing scope if the caller owns it.
    public static func run<R>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async rethrows -> R {
        try await Local<Never>.withScope(setting: nil as Local<Never>?, to: nil, isolation: isolation, body)
    }

    /// Runs `body` in a new, empty scope whose changes are dropped afterwards: a server's scope for
    /// one request on a thread that serves one request after another, so that nothing a request
    /// sets (without a scope of its own, as legacy code does) reaches the next. Thread-critical
    /// values stay with the thread, as always.
    package static func runFresh<R>(_ body: () throws -> R) rethrows -> R {
        try Local<Never>.withFreshScope(body)
    }
}
