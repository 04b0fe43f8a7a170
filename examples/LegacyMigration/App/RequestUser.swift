public import AsyncBridge

/// The user a request acts for, in request-scoped storage that both halves of the app read.
///
/// The router sets it from the `X-User` header inside a `LocalScope` opened for each request. The
/// bridge carries `Local` values across every crossing, so the same value is seen by async
/// handlers, by blocking handlers running on pool threads, and by async code that a blocking
/// handler calls back into with `AsyncToSync.run`, with no parameter threaded through.
public enum RequestUser {
    /// The user of the current request.
    public static let local = Local<String>()

    /// Who a request acts for when it names nobody.
    public static let anonymous = "anonymous"

    /// The current request's user, or ``anonymous`` outside a request.
    public static var current: String {
        local.value ?? anonymous
    }
}
