import AsyncBridge

/// An async service: records who did what, for both halves of the app.
///
/// New async handlers simply `await` it. Blocking handlers call it with `AsyncToSync.run`, and its
/// thread-sensitive `SyncToAsync` call then runs back on the blocking handler's own thread, on
/// that thread's connection, inside that handler's open transaction. Had it run anywhere else
/// (another thread, another connection), it would wait for the write lock the handler holds
/// while the handler waits for it, until SQLite's busy timeout failed the request.
public struct AuditTrail: Sendable {
    /// Where the entries are kept.
    public let store: NoteStore

    /// Creates the service over `store`.
    public init(store: NoteStore) {
        self.store = store
    }

    /// Records that the current request user did `action` to note `noteID`.
    ///
    /// The user comes from ``RequestUser``: whichever side of the bridge the request started on,
    /// its `Local` value is here.
    /// - Parameter via: `"api"` or `"legacy"`, the half of the app that handled the request.
    @discardableResult
    public func record(_ action: String, noteID: Int64, via: String) async throws -> AuditEntry {
        let user = RequestUser.current
        let store = self.store
        return try await SyncToAsync.run {
            try store.appendAudit(action: action, noteID: noteID, user: user, via: via)
        }
    }

    /// The whole trail, oldest first.
    public func entries() async throws -> [AuditEntry] {
        let store = self.store
        return try await SyncToAsync.run { try store.auditTrail() }
    }
}
