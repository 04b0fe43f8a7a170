import ASGI
import ASGIToolkit
import AsyncBridge

/// The legacy half of the app: blocking, WSGI-style handlers, as they were before the migration.
///
/// They call ``NoteStore`` directly (they run on a blocking thread, where that is fine), set the
/// request user (``RequestUser``) from the `X-User` header as the async routes do, and
/// route on `PATH_INFO` below their mount point, which `SCRIPT_NAME` gives. One of them already
/// calls new async code, the ``AuditTrail``, through `AsyncToSync.run`. Forms, escaping and
/// responses come from `ASGIToolkit`.
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
            let request = WSGIRequest(environ)
            // The request user, in a scope of this request's own (served over FastCGI, the mount
            // hands the request straight to this application on the worker thread).
            return try LocalScope.run {
                try RequestUser.local.set(RequestUser.name(fromHeader: request.header("x-user")))
                switch request.path {
                case "/notes", "/notes/":
                    switch request.method {
                    case "GET":
                        return try notesPage(store: store, base: request.scriptName)(startResponse)
                    case "POST":
                        return try postNote(environ, store: store, audit: audit, base: request.scriptName, beforeWrite: beforeWrite)(startResponse)
                    default:
                        var response = WSGIResponse.text("Use GET or POST.\n", status: 405)
                        response.headers.append(("Allow", "GET, POST"))
                        return try response(startResponse)
                    }
                default:
                    return try WSGIResponse.text("No legacy page here.\n", status: 404)(startResponse)
                }
            }
        }
    }

    /// `GET /notes`: every note, and a form to add one.
    ///
    /// The page is written as bytes, each piece of text escaped straight into it.
    static func notesPage(store: NoteStore, base: String) throws -> WSGIResponse {
        let notes = try store.list()
        var page: [UInt8] = []
        page.reserveCapacity(512 + notes.count * 96)
        page += #"<!doctype html><meta charset="utf-8"><title>Notes (legacy)</title>"#.utf8
        page += "\n<h1>Notes</h1>\n<p>Signed in as <b>".utf8
        HTML.escape(RequestUser.current, into: &page)
        page += "</b>.</p>\n<ul>\n".utf8
        for note in notes {
            page += "<li><b>".utf8
            HTML.escape(note.author, into: &page)
            page += "</b>: ".utf8
            HTML.escape(note.text, into: &page)
            page += "</li>\n".utf8
        }
        page += "</ul>\n<form method=\"post\" action=\"".utf8
        HTML.escape(base, into: &page)
        page += "/notes\">\n<input name=\"text\" autocomplete=\"off\"> <button>Add note</button>\n</form>\n".utf8
        return .html(bytes: page)
    }

    /// `POST /notes` with form field `text`: stores the note and its audit entry in one
    /// transaction, then redirects to the page (post/redirect/get).
    static func postNote(
        _ environ: Environ,
        store: NoteStore,
        audit: AuditTrail,
        base: String,
        beforeWrite: (@Sendable () -> Void)?
    ) throws -> WSGIResponse {
        let form: FormFields
        do {
            form = try FormFields(form: environ, limits: FormLimits(maxBytes: maxFormBytes))
        } catch let error as FormError {
            return WSGIResponse(error: error)
        }
        guard let text = form["text"]?.trimmed, !text.isEmpty else {
            return .text("Missing form field 'text'.\n", status: 400)
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
        var response = WSGIResponse.text("Created note \(note.id).\n", status: 303)
        response.headers.append(("Location", "\(base)/notes"))
        return response
    }
}
