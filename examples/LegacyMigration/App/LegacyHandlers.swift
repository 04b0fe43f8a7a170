import ASGI
import AsyncBridge

/// The legacy half of the app: blocking, WSGI-style handlers, as they were before the migration.
///
/// They call ``NoteStore`` directly (they run on a blocking thread, where that is fine), read the
/// request user from ``RequestUser`` (set by the async router; the bridge carries it here), and
/// route on `PATH_INFO` below their mount point, which `SCRIPT_NAME` gives. One of them already
/// calls new async code, the ``AuditTrail``, through `AsyncToSync.run`.
enum LegacyHandlers {
    /// The largest form body accepted.
    static let maxFormBytes = 64 * 1024

    /// The legacy application: `GET /notes` (an HTML page) and `POST /notes` (a form post).
    /// - Parameter beforeWrite: called on the handler's thread after a form post was validated and
    ///   before it writes (a seam for tests).
    static func application(
        store: NoteStore,
        audit: AuditTrail,
        beforeWrite: (@Sendable () -> Void)?
    ) -> WSGIApp {
        WSGIApp { environ, startResponse in
            let base = environ["SCRIPT_NAME"] ?? ""
            switch environ["PATH_INFO"] ?? "" {
            case "/notes", "/notes/":
                switch environ["REQUEST_METHOD"] ?? "GET" {
                case "GET":
                    return try notesPage(store: store, base: base, startResponse)
                case "POST":
                    return try postNote(environ, store: store, audit: audit, base: base, beforeWrite: beforeWrite, startResponse)
                default:
                    return try respond(startResponse, "405 Method Not Allowed", "Use GET or POST.\n", headers: [("Allow", "GET, POST")])
                }
            default:
                return try respond(startResponse, "404 Not Found", "No legacy page here.\n")
            }
        }
    }

    /// `GET /notes`: every note, and a form to add one.
    static func notesPage(store: NoteStore, base: String, _ startResponse: StartResponse) throws -> any WSGIBody {
        let notes = try store.list()
        var items = ""
        for note in notes {
            items += "<li><b>\(escapeHTML(note.author))</b>: \(escapeHTML(note.text))</li>\n"
        }
        let page = """
            <!doctype html><meta charset="utf-8"><title>Notes (legacy)</title>
            <h1>Notes</h1>
            <p>Signed in as <b>\(escapeHTML(RequestUser.current))</b>.</p>
            <ul>
            \(items)</ul>
            <form method="post" action="\(escapeHTML(base))/notes">
            <input name="text" autocomplete="off"> <button>Add note</button>
            </form>

            """
        return try respond(startResponse, "200 OK", page, contentType: "text/html; charset=utf-8")
    }

    /// `POST /notes` with form field `text`: stores the note and its audit entry in one
    /// transaction, then redirects to the page (post/redirect/get).
    static func postNote(
        _ environ: Environ,
        store: NoteStore,
        audit: AuditTrail,
        base: String,
        beforeWrite: (@Sendable () -> Void)?,
        _ startResponse: StartResponse
    ) throws -> any WSGIBody {
        let body = try environ.input.read(maxFormBytes + 1)
        guard body.count <= maxFormBytes else {
            return try respond(startResponse, "413 Payload Too Large", "The form is larger than \(maxFormBytes) bytes.\n")
        }
        guard let text = decodeForm(body)["text"]?.trimmed, !text.isEmpty else {
            return try respond(startResponse, "400 Bad Request", "Missing form field 'text'.\n")
        }
        beforeWrite?()
        let note = try store.transaction {
            let note = try store.create(author: RequestUser.current, text: text)
            // Blocking code calling the new async service. This thread serves the async body
            // while it waits, so the service's thread-sensitive store call runs right here, on
            // this thread's connection, inside this transaction.
            _ = try AsyncToSync.run {
                try await audit.record("note.created", noteID: note.id, via: "legacy")
            }
            return note
        }
        return try respond(startResponse, "303 See Other", "Created note \(note.id).\n", headers: [("Location", "\(base)/notes")])
    }

    /// Starts a response with `body` as its whole content.
    static func respond(
        _ startResponse: StartResponse,
        _ status: String,
        _ body: String,
        contentType: String = "text/plain; charset=utf-8",
        headers: [(String, String)] = []
    ) throws -> any WSGIBody {
        let bytes = Array(body.utf8)
        _ = try startResponse(status, [("Content-Type", contentType), ("Content-Length", String(bytes.count))] + headers, nil)
        return [bytes]
    }
}
