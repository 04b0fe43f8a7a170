import AsyncBridge
public import Foundation
import Synchronization

/// A note: what the app stores.
public struct Note: Sendable, Hashable, Codable {
    /// The row id, assigned by the database.
    public var id: Int64
    /// The request user who wrote it.
    public var author: String
    /// What it says.
    public var text: String
    /// When it was written.
    public var created: Date

    /// Creates a note value.
    public init(id: Int64, author: String, text: String, created: Date) {
        self.id = id
        self.author = author
        self.text = text
        self.created = created
    }
}

/// One line of the audit trail: who did what to which note, through which half of the app.
public struct AuditEntry: Sendable, Hashable, Codable {
    /// The row id.
    public var id: Int64
    /// What happened, e.g. `"note.created"`.
    public var action: String
    /// The note it happened to.
    public var noteID: Int64
    /// The request user.
    public var user: String
    /// `"api"` (an async handler) or `"legacy"` (a blocking handler).
    public var via: String
    /// When it was recorded.
    public var at: Date

    /// Creates an audit entry value.
    public init(id: Int64, action: String, noteID: Int64, user: String, via: String, at: Date) {
        self.id = id
        self.action = action
        self.noteID = noteID
        self.user = user
        self.via = via
        self.at = at
    }
}

/// Why a ``NoteStore`` operation failed.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// SQLite reported an error.
    case sqlite(code: Int32, message: String)
    /// The store was called from async code, where it would block a cooperative-pool thread.
    case calledFromAsyncContext
    /// A connection was used on a thread other than the one that opened it (a bug: the
    /// thread-critical `Local` should make this impossible).
    case usedOnWrongThread
    /// The store has been closed.
    case closed

    /// What went wrong and what to do about it.
    public var description: String {
        switch self {
        case .sqlite(let code, let message):
            return "SQLite error \(code): \(message)"
        case .calledFromAsyncContext:
            return "NoteStore blocks: call it from synchronous code, e.g. inside SyncToAsync.run { … }, not from async code."
        case .usedOnWrongThread:
            return "A NoteStore connection was used on a thread other than the one that opened it."
        case .closed:
            return "The NoteStore has been closed."
        }
    }
}

/// What the store knows about one of its connections (for tests and diagnostics).
public struct ConnectionInfo: Sendable, Hashable {
    /// The connection's number within the store, in the order they were opened.
    public var id: Int
    /// The thread that opened it.
    public var thread: ThreadID
    /// Every thread it was used on (just ``thread`` unless something is badly wrong).
    public var usedOn: Set<ThreadID>
    /// How many times it was used.
    public var uses: Int
    /// Whether it has been closed.
    public var isClosed: Bool
}

/// The legacy, blocking data layer: notes and their audit trail in a SQLite file.
///
/// Every method blocks, so call it from synchronous code: a blocking WSGI-style handler, or a
/// ``SyncToAsync`` body from async code. Called from a task it throws
/// ``StoreError/calledFromAsyncContext`` (Django's `SynchronousOnlyOperation`).
///
/// Like Django's database layer, the store has one connection per thread: each thread opens its
/// own the first time it needs one, and keeps it in a `Local(threadCritical: true)`, so a handle
/// never crosses threads. Thread-sensitive ``SyncToAsync`` calls from async code all run on one
/// thread, so they share one connection; blocking handlers on pool threads get one each. The
/// database is in WAL mode (readers never wait for the writer) with a busy timeout (writers queue
/// up instead of failing).
///
/// ```swift
/// let store = try NoteStore(directory: "/var/lib/notes")
/// let note = try store.create(author: "ada", text: "hello")
/// let notes = try await SyncToAsync.run { try store.list() }   // from async code
/// ```
public final class NoteStore: Sendable {
    private struct Registry {
        var connections: [Connection] = []
        var lastID = 0
        var closed = false
    }

    /// The database file.
    public let path: String
    /// How long a writer waits for the database lock before failing with `SQLITE_BUSY`.
    public let busyTimeout: Duration
    /// This thread's connection. Thread-critical: a value set on one thread is never seen on another.
    private let connection = Local<Connection>(threadCritical: true)
    private let registry = Mutex(Registry())

    /// Opens (creating if needed) the database `notes.sqlite3` in `directory`, which is created
    /// if missing. Blocks: call it from synchronous code.
    ///
    /// Switches the database to WAL mode and creates the tables here, once, so that the
    /// per-thread connections opened later never race to do it.
    public init(directory: String, busyTimeout: Duration = .seconds(5)) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.path = (directory as NSString).appendingPathComponent("notes.sqlite3")
        self.busyTimeout = busyTimeout
        let setup = try Connection(id: 0, path: path, busyTimeoutMilliseconds: Self.milliseconds(busyTimeout))
        defer { setup.close() }
        try setup.execute(
            """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS notes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                author TEXT NOT NULL,
                text TEXT NOT NULL,
                created REAL NOT NULL
            );
            CREATE TABLE IF NOT EXISTS audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                action TEXT NOT NULL,
                note_id INTEGER NOT NULL REFERENCES notes(id),
                user TEXT NOT NULL,
                via TEXT NOT NULL,
                at REAL NOT NULL
            );
            """
        )
    }

    deinit {
        close()
    }

    // MARK: Notes

    /// Every note, oldest first.
    public func list() throws -> [Note] {
        try current().query("SELECT id, author, text, created FROM notes ORDER BY id") { row in
            Note(id: row.integer(0), author: row.text(1), text: row.text(2), created: Date(timeIntervalSince1970: row.real(3)))
        }
    }

    /// The number of notes.
    public func count() throws -> Int {
        try current().query("SELECT count(*) FROM notes") { Int($0.integer(0)) }.first ?? 0
    }

    /// Stores a new note by `author` and returns it.
    public func create(author: String, text: String) throws -> Note {
        let seconds = Date().timeIntervalSince1970
        let id = try current().run(
            "INSERT INTO notes (author, text, created) VALUES (?, ?, ?)",
            [.text(author), .text(text), .real(seconds)]
        )
        return Note(id: id, author: author, text: text, created: Date(timeIntervalSince1970: seconds))
    }

    // MARK: Audit trail

    /// Appends an entry to the audit trail and returns it.
    public func appendAudit(action: String, noteID: Int64, user: String, via: String) throws -> AuditEntry {
        let seconds = Date().timeIntervalSince1970
        let id = try current().run(
            "INSERT INTO audit (action, note_id, user, via, at) VALUES (?, ?, ?, ?, ?)",
            [.text(action), .integer(noteID), .text(user), .text(via), .real(seconds)]
        )
        return AuditEntry(id: id, action: action, noteID: noteID, user: user, via: via, at: Date(timeIntervalSince1970: seconds))
    }

    /// The whole audit trail, oldest first.
    public func auditTrail() throws -> [AuditEntry] {
        try current().query("SELECT id, action, note_id, user, via, at FROM audit ORDER BY id") { row in
            AuditEntry(
                id: row.integer(0),
                action: row.text(1),
                noteID: row.integer(2),
                user: row.text(3),
                via: row.text(4),
                at: Date(timeIntervalSince1970: row.real(5))
            )
        }
    }

    // MARK: Transactions

    /// Runs `body` in a write transaction on this thread's connection: committed if it returns,
    /// rolled back if it throws.
    ///
    /// `BEGIN IMMEDIATE` takes the write lock up front (waiting up to ``busyTimeout``), so two
    /// transactions never deadlock on a read lock upgraded too late. Inside a transaction already
    /// open on this thread, `body` simply joins it. Everything `body` does must happen on this
    /// thread to be part of the transaction, which is why async code called from `body` through
    /// `AsyncToSync.run` must reach the store through thread-sensitive `SyncToAsync` calls: those
    /// come back to this very thread.
    public func transaction<R>(_ body: () throws -> R) throws -> R {
        let connection = try current()
        guard try connection.isAutocommit else { return try body() }
        try connection.execute("BEGIN IMMEDIATE")
        let result: R
        do {
            result = try body()
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
        do {
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
        return result
    }

    // MARK: Connections

    /// The database's journal mode as this thread's connection sees it (`"wal"`).
    public func journalMode() throws -> String {
        try current().query("PRAGMA journal_mode") { $0.text(0) }.first ?? ""
    }

    /// Every connection opened so far, in order, with the threads it was used on.
    public func connections() -> [ConnectionInfo] {
        registry.withLock { $0.connections }.map { connection in
            let usage = connection.usage
            return ConnectionInfo(
                id: connection.id,
                thread: connection.thread,
                usedOn: usage.threads,
                uses: usage.uses,
                isClosed: connection.isClosed
            )
        }
    }

    /// Closes every connection, whichever thread holds it; later calls throw ``StoreError/closed``.
    ///
    /// The one place a connection is touched off its thread: call it once requests have stopped
    /// (at shutdown). A statement in progress finishes first; an open transaction is rolled back.
    public func close() {
        let connections = registry.withLock { registry -> [Connection] in
            registry.closed = true
            return registry.connections
        }
        for connection in connections { connection.close() }
    }

    /// This thread's connection, opened on first use.
    private func current() throws -> Connection {
        guard withUnsafeCurrentTask(body: { $0 == nil }) else { throw StoreError.calledFromAsyncContext }
        if let existing = connection.value {
            return existing
        }
        let id = registry.withLock { registry in
            registry.lastID += 1
            return registry.lastID
        }
        let opened = try Connection(id: id, path: path, busyTimeoutMilliseconds: Self.milliseconds(busyTimeout))
        do {
            try opened.execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        } catch {
            opened.close()
            throw error
        }
        let registered = registry.withLock { registry -> Bool in
            guard !registry.closed else { return false }
            registry.connections.append(opened)
            return true
        }
        guard registered else {
            opened.close()
            throw StoreError.closed
        }
        try connection.set(opened)
        return opened
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
