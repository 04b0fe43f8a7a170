public import AsyncBridge

/// The user a request acts for, in request-scoped storage that both halves of the app read.
///
/// Each half of the app sets it from the `X-User` header inside a `LocalScope` opened for each
/// request. The bridge carries `Local` values across every crossing, so the value is seen by the
/// handlers and by async code that a blocking handler calls back into with `AsyncToSync.run`
/// (the audit trail), with no parameter threaded through.
public enum RequestUser {
    /// The user an `X-User` header value names (trimmed), or ``anonymous`` for none or blanks.
    public static func name(fromHeader value: String?) -> String {
        let name = value?.trimmed ?? ""
        return name.isEmpty ? anonymous : name
    }

    /// The user of the current request.
    public static let local = Local<String>()

    /// Who a request acts for when it names nobody.
    public static let anonymous = "anonymous"

    /// The current request's user, or ``anonymous`` outside a request.
    public static var current: String {
        local.value ?? anonymous
    }
}
