public import ASGI
public import AsyncBridge
import Foundation
public import Logging

/// The notes app halfway through its migration from blocking to async: the legacy pages mounted
/// under `/legacy` (`WSGIMount`) in front of the new async routes.
///
/// | route | handler |
/// |---|---|
/// | `GET /api/notes` | async: every note as JSON |
/// | `POST /api/notes` | async: create a note from JSON `{"text": "…"}` (201) |
/// | `GET /api/audit` | async: the audit trail as JSON |
/// | `GET /legacy/notes` | legacy, blocking: an HTML page with a form |
/// | `POST /legacy/notes` | legacy, blocking: a form post (`text=…`), redirects to the page |
///
/// Each half sets the request user (``RequestUser``, from the `X-User` header) in a `LocalScope`
/// of its own for each request. The async handlers reach the blocking ``NoteStore`` only through
/// thread-sensitive `SyncToAsync.run`, so they all share one thread and its one connection. The
/// legacy handlers run on blocking threads (pool threads over HTTP; over FastCGI the worker
/// thread that serves the request, which hands them its own environ: the mount spares them the
/// ASGI round trip), each with its own connection, and call the store directly.
///
/// ```swift
/// let store = try await SyncToAsync.run { try NoteStore(directory: "/var/lib/notes") }
/// let server = ASGIHTTPServer(application: NotesApp.make(store: store), configuration: .init(), logger: logger)
/// ```
public enum NotesApp {
    /// The largest JSON body the async API accepts.
    public static let maxJSONBytes = 64 * 1024

    /// The whole app over `store`: the legacy pages at `/legacy`, the async routes everywhere else.
    /// - Parameters:
    ///   - store: the notes database.
    ///   - legacyExecutor: where the blocking handlers run (`nil`: `BlockingThreadPool.shared`, or
    ///     a blocking frontend's own thread).
    ///   - beforeLegacyWrite: called on a blocking handler's thread after it validated a form post
    ///     and before it writes: a seam for tests and instrumentation.
    ///   - logger: where failures go.
    public static func make(
        store: NoteStore,
        legacyExecutor: (any BlockingExecutor)? = nil,
        beforeLegacyWrite: (@Sendable () -> Void)? = nil,
        logger: Logger = Logger(label: "LegacyMigration")
    ) -> WSGIMount {
        let audit = AuditTrail(store: store)
        let legacy = WSGIToASGI(
            LegacyHandlers.application(store: store, audit: audit, beforeWrite: beforeLegacyWrite),
            maxRequestBodyBytes: LegacyHandlers.maxFormBytes,
            executor: legacyExecutor,
            logger: logger
        )
        return WSGIMount("/legacy", legacy, in: NotesRoutes(store: store, audit: audit, logger: logger))
    }
}

/// The new half: async handlers for the JSON API and the index, and the lifespan protocol.
struct NotesRoutes: ASGIApplication {
    /// The blocking data layer both halves use.
    let store: NoteStore
    /// The async audit service.
    let audit: AuditTrail
    /// Where failures are logged.
    let logger: Logger

    /// Serves one connection: HTTP requests, and the lifespan protocol.
    func callAsFunction(scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        switch scope {
        case .http(let http):
            let header = http.headers.first { $0.nameString.lowercased() == "x-user" }.map { String(decoding: $0.value, as: UTF8.self) }
            let user = RequestUser.name(fromHeader: header)
            try await LocalScope.run {
                try RequestUser.local.set(user)
                try await route(http, receive: receive, send: send)
            }
        case .lifespan:
            while true {
                switch try await receive() {
                case .lifespanStartup: try await send(.lifespanStartupComplete)
                case .lifespanShutdown:
                    try await send(.lifespanShutdownComplete)
                    return
                default: continue
                }
            }
        case .websocket:
            // No WebSocket routes: deny the handshake.
            _ = try await receive()
            try await send(.websocketClose())
        }
    }

    /// Dispatches one request on its path below the app's root path.
    private func route(_ http: HTTPScope, receive: @escaping Receive, send: @escaping Send) async throws {
        var path = http.path
        if !http.rootPath.isEmpty, path.hasPrefix(http.rootPath) {
            path.removeFirst(http.rootPath.count)
        }
        let response: Response
        do {
            switch (http.method, path) {
            case ("GET", "/"):
                response = .text(Self.index, contentType: "text/html; charset=utf-8")
            case ("GET", "/api/notes"):
                response = try await listNotes()
            case ("POST", "/api/notes"):
                response = try await createNote(http, receive: receive)
            case ("GET", "/api/audit"):
                response = try .json(try await audit.entries())
            case (_, "/"), (_, "/api/audit"):
                response = .error(405, "Method \(http.method) is not allowed here; use GET.", headers: [("allow", "GET")])
            case (_, "/api/notes"):
                response = .error(405, "Method \(http.method) is not allowed here; use GET or POST.", headers: [("allow", "GET, POST")])
            default:
                response = .error(404, "Nothing at \(path).")
            }
        } catch BodyError.disconnected {
            return
        } catch {
            logger.error("Request \(http.method) \(path) failed: \(String(describing: error))")
            response = .error(500, "Internal server error.")
        }
        try await response.send(with: send)
    }

    /// `GET /api/notes`: the new async handler reads through the blocking store.
    private func listNotes() async throws -> Response {
        let store = self.store
        let notes = try await SyncToAsync.run { try store.list() }
        return try .json(notes)
    }

    /// The body of `POST /api/notes`.
    private struct NewNote: Decodable {
        var text: String
    }

    /// `POST /api/notes`: validates the JSON, stores the note, records it in the audit trail.
    private func createNote(_ http: HTTPScope, receive: @escaping Receive) async throws -> Response {
        if let type = http.headers["content-type"], !type.lowercased().hasPrefix("application/json") {
            return .error(415, "Send the note as application/json.")
        }
        let body: [UInt8]
        do {
            body = try await readBody(receive, limit: NotesApp.maxJSONBytes)
        } catch BodyError.tooLarge {
            return .error(413, "The body is larger than \(NotesApp.maxJSONBytes) bytes.")
        }
        let new: NewNote
        do {
            new = try JSONDecoder().decode(NewNote.self, from: Data(body))
        } catch DecodingError.keyNotFound(let key, _) {
            return .error(400, "Missing field '\(key.stringValue)'.")
        } catch DecodingError.typeMismatch(_, let context) {
            return .error(400, "Wrong type for field '\(context.codingPath.map(\.stringValue).joined(separator: "."))'.")
        } catch {
            return .error(400, "Invalid JSON: send an object like {\"text\": \"…\"}.")
        }
        let text = new.text.trimmed
        guard !text.isEmpty else {
            return .error(400, "Field 'text' must not be empty.")
        }
        let store = self.store
        // Thread-sensitive (the default): every async handler's store call runs on one thread,
        // with that thread's connection. The request user crosses over with the call.
        let note = try await SyncToAsync.run {
            try store.create(author: RequestUser.current, text: text)
        }
        try await audit.record("note.created", noteID: note.id, via: "api")
        return try .json(note, status: 201)
    }

    private static let index = """
        <!doctype html><meta charset="utf-8"><title>LegacyMigration</title>
        <h1>Notes, half migrated</h1>
        <ul>
        <li><a href="legacy/notes">/legacy/notes</a>: the legacy, blocking page (WSGI-style)</li>
        <li><a href="api/notes">/api/notes</a>: the new async JSON API</li>
        <li><a href="api/audit">/api/audit</a>: the audit trail both halves write</li>
        </ul>

        """
}
