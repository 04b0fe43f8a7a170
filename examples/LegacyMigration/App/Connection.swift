import CSQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The identity of an operating-system thread, as the store records it.
public struct ThreadID: Hashable, Sendable, CustomStringConvertible {
    /// The `pthread_t` of the thread, as a number.
    public let rawValue: UInt

    /// The calling thread.
    public static var current: ThreadID {
        #if canImport(Darwin)
        ThreadID(rawValue: UInt(bitPattern: pthread_self()))
        #else
        ThreadID(rawValue: UInt(pthread_self()))
        #endif
    }

    /// The thread id in hexadecimal.
    public var description: String { "0x" + String(rawValue, radix: 16) }
}

/// A value bound to a statement parameter.
enum SQLValue {
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A result row being read (valid only inside the `query` callback).
struct Row {
    let statement: OpaquePointer

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func real(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }
}

/// One SQLite connection, bound to the thread that opened it.
///
/// A connection is used only on its thread: ``NoteStore`` keeps it in a thread-critical `Local`,
/// so another thread never finds it, and every use checks the thread anyway (and records it, so
/// tests can see where each connection ran). The lock exists for one cross-thread operation only:
/// ``close()`` at shutdown, which must not pull the handle from under a statement in progress.
final class Connection: Sendable {
    private struct State {
        /// The SQLite handle (`nil` once closed); only ever used under the lock.
        var handle: UInt?
        var uses = 0
        var threads: Set<ThreadID> = []
    }

    /// A number unique within the store.
    let id: Int
    /// The thread that opened the connection: the only one that may use it.
    let thread: ThreadID
    private let state: Mutex<State>

    /// Opens `path` (creating it if needed) on the calling thread.
    ///
    /// The connection is in SQLite's multi-thread mode (`SQLITE_OPEN_NOMUTEX`): SQLite does no
    /// locking of its own for it, because this code never uses it on two threads at once.
    init(id: Int, path: String, busyTimeoutMilliseconds: Int32) throws(StoreError) {
        var handle: OpaquePointer? = nil
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw StoreError.sqlite(code: rc, message: "cannot open \(path): \(message)")
        }
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        self.id = id
        self.thread = .current
        // The handle is kept as its bit pattern: a plain number can live in the Sendable lock
        // state, and is turned back into a pointer only while the lock is held.
        self.state = Mutex(State(handle: UInt(bitPattern: handle)))
    }

    deinit {
        close()
    }

    /// How many times the connection was used, and on which threads.
    var usage: (uses: Int, threads: Set<ThreadID>) {
        state.withLock { ($0.uses, $0.threads) }
    }

    /// Whether ``close()`` has run.
    var isClosed: Bool {
        state.withLock { $0.handle == nil }
    }

    /// Closes the connection (idempotent). Safe from any thread: it waits for a statement in
    /// progress, and an open transaction is rolled back.
    func close() {
        state.withLock { state in
            if let raw = state.handle, let handle = OpaquePointer(bitPattern: raw) {
                sqlite3_close_v2(handle)
            }
            state.handle = nil
        }
    }

    /// Runs `body` with the handle, on the connection's own thread only.
    /// - Throws: ``StoreError/usedOnWrongThread`` on another thread, ``StoreError/closed`` once
    ///   closed, and what `body` throws.
    private func withHandle<R: Sendable>(_ body: (OpaquePointer) throws(StoreError) -> R) throws(StoreError) -> R {
        let caller = ThreadID.current
        let result: Result<R, StoreError> = state.withLock { state in
            state.uses += 1
            state.threads.insert(caller)
            guard caller == thread else { return .failure(.usedOnWrongThread) }
            guard let raw = state.handle, let handle = OpaquePointer(bitPattern: raw) else { return .failure(.closed) }
            do throws(StoreError) {
                return .success(try body(handle))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Runs one or more SQL statements that return no rows the caller needs.
    func execute(_ sql: String) throws(StoreError) {
        try withHandle { handle throws(StoreError) in
            var error: UnsafeMutablePointer<CChar>? = nil
            let rc = sqlite3_exec(handle, sql, nil, nil, &error)
            defer { sqlite3_free(error) }
            guard rc == SQLITE_OK else {
                throw StoreError.sqlite(code: rc, message: error.map { String(cString: $0) } ?? "error \(rc)")
            }
        }
    }

    /// Runs a statement with `bindings` and maps each result row with `read`.
    func query<R: Sendable>(_ sql: String, _ bindings: [SQLValue] = [], read: (Row) -> R) throws(StoreError) -> [R] {
        try withHandle { handle throws(StoreError) in
            try Self.withStatement(handle, sql, bindings) { statement throws(StoreError) in
                var rows: [R] = []
                while true {
                    let rc = sqlite3_step(statement)
                    if rc == SQLITE_DONE { return rows }
                    guard rc == SQLITE_ROW else { throw Self.error(handle, rc) }
                    rows.append(read(Row(statement: statement)))
                }
            }
        }
    }

    /// Runs a statement that returns no rows; returns the last inserted row id.
    @discardableResult
    func run(_ sql: String, _ bindings: [SQLValue] = []) throws(StoreError) -> Int64 {
        try withHandle { handle throws(StoreError) in
            try Self.withStatement(handle, sql, bindings) { statement throws(StoreError) in
                var rc = sqlite3_step(statement)
                while rc == SQLITE_ROW { rc = sqlite3_step(statement) }
                guard rc == SQLITE_DONE else { throw Self.error(handle, rc) }
                return sqlite3_last_insert_rowid(handle)
            }
        }
    }

    /// Whether the connection is outside any transaction (SQLite's autocommit mode).
    var isAutocommit: Bool {
        get throws(StoreError) {
            try withHandle { handle in sqlite3_get_autocommit(handle) != 0 }
        }
    }

    private static func withStatement<R>(
        _ handle: OpaquePointer,
        _ sql: String,
        _ bindings: [SQLValue],
        _ body: (OpaquePointer) throws(StoreError) -> R
    ) throws(StoreError) -> R {
        var prepared: OpaquePointer? = nil
        let rc = sqlite3_prepare_v2(handle, sql, -1, &prepared, nil)
        guard rc == SQLITE_OK, let statement = prepared else { throw error(handle, rc) }
        defer { sqlite3_finalize(statement) }
        for (offset, value) in bindings.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let number):
                rc = sqlite3_bind_int64(statement, index, number)
            case .real(let number):
                rc = sqlite3_bind_double(statement, index, number)
            case .text(let string):
                // With an explicit length, so text with NUL characters is stored whole.
                let bytes = Array(string.utf8)
                rc = bytes.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { chars in
                        guard let base = chars.baseAddress else {
                            return sqlite3_bind_text(statement, index, "", 0, csqlite_transient())
                        }
                        return sqlite3_bind_text(statement, index, base, Int32(chars.count), csqlite_transient())
                    }
                }
            }
            guard rc == SQLITE_OK else { throw error(handle, rc) }
        }
        return try body(statement)
    }

    private static func error(_ handle: OpaquePointer, _ rc: Int32) -> StoreError {
        .sqlite(code: rc, message: String(cString: sqlite3_errmsg(handle)))
    }
}
