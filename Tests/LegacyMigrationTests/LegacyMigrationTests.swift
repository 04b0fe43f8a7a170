import ASGI
import ASGITesting
import AsyncBridge
import LegacyMigrationApp
import TestSupport
import Testing

/// The LegacyMigration example: async and legacy handlers over one SQLite database.
@Suite("LegacyMigration")
struct LegacyMigrationTests {
    // MARK: Both halves share one database

    @Test func createdThroughAsyncRouteReadThroughLegacyRoute() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            let created = try await postAPINote(app, "Ünïcode & <tags>", user: "ada")
            #expect(created.status == 201)
            let note = try decode(Note.self, from: created)
            #expect(note.author == "ada")
            #expect(note.text == "Ünïcode & <tags>")

            let page = try await request(app, "GET", "/legacy/notes", user: "ada")
            #expect(page.status == 200)
            #expect(page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.text.contains("<li><b>ada</b>: Ünïcode &amp; &lt;tags&gt;</li>"))
            #expect(try await database.notes().map(\.id) == [note.id])
        }
    }

    @Test func createdThroughLegacyRouteReadThroughAsyncRoute() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            let posted = try await postLegacyNote(app, "from the form: 100% & more", user: "grace")
            #expect(posted.status == 303)
            #expect(posted.headers["location"] == "/legacy/notes")

            let listed = try await request(app, "GET", "/api/notes")
            #expect(listed.status == 200)
            #expect(listed.headers["content-type"] == "application/json")
            let notes = try decode([Note].self, from: listed)
            #expect(notes.map(\.author) == ["grace"])
            #expect(notes.map(\.text) == ["from the form: 100% & more"])
            #expect(notes.map(\.id) == (try await database.notes()).map(\.id))
        }
    }

    @Test func bothHalvesInterleaveOnOneDatabase() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            for index in 0..<3 {
                #expect(try await postAPINote(app, "api \(index)").status == 201)
                #expect(try await postLegacyNote(app, "legacy \(index)").status == 303)
            }
            let expected = ["api 0", "legacy 0", "api 1", "legacy 1", "api 2", "legacy 2"]
            #expect(try decode([Note].self, from: try await request(app, "GET", "/api/notes")).map(\.text) == expected)
            let page = try await request(app, "GET", "/legacy/notes").text
            for text in expected { #expect(page.contains(": \(text)</li>")) }
            #expect(try await database.notes().map(\.text) == expected)
        }
    }

    // MARK: The request user

    @Test func requestUserReachesAsyncAndLegacyHandlers() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            #expect(try decode(Note.self, from: try await postAPINote(app, "one", user: "ada")).author == "ada")
            #expect(try await postLegacyNote(app, "two", user: "Zoë").status == 303)
            #expect(try decode(Note.self, from: try await postAPINote(app, "three")).author == "anonymous")
            #expect(try await postLegacyNote(app, "four", user: "   ").status == 303)

            // The legacy handler read the user from the same Local the async router set.
            let notes = try decode([Note].self, from: try await request(app, "GET", "/api/notes"))
            #expect(notes.map(\.author) == ["ada", "Zoë", "anonymous", "anonymous"])
            #expect(try await request(app, "GET", "/legacy/notes", user: "grace").text.contains("Signed in as <b>grace</b>"))
            #expect(try await request(app, "GET", "/legacy/notes").text.contains("Signed in as <b>anonymous</b>"))

            // The audit service is async code: for the legacy posts it was called back from the
            // blocking handler with AsyncToSync.run, and still saw that request's user.
            let audit = try decode([AuditEntry].self, from: try await request(app, "GET", "/api/audit"))
            #expect(audit.map(\.user) == ["ada", "Zoë", "anonymous", "anonymous"])
            #expect(audit.map(\.via) == ["api", "legacy", "api", "legacy"])
            #expect(audit.map(\.noteID) == notes.map(\.id))
            #expect(audit.allSatisfy { $0.action == "note.created" })
        }
    }

    /// Served as a FastCGI worker serves it (the mount hands the legacy requests to the blocking
    /// handlers directly), the app behaves as under an async server: both halves, the request
    /// user in each and in the audit service, and a bad form post that changes nothing.
    @Test func blockingFrontendServesTheSameApp() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            let form = "application/x-www-form-urlencoded"
            #expect(
                try await blockingRequest(app, "POST", "/legacy/notes", user: "Zoë", body: "text=two", contentType: form).status == "303 See Other"
            )
            let api = try await blockingRequest(app, "POST", "/api/notes", user: "ada", body: #"{"text": "one"}"#, contentType: "application/json")
            #expect(api.status == "201 Created")
            #expect(try await blockingRequest(app, "POST", "/legacy/notes", body: "title=x", contentType: form).status == "400 Bad Request")

            let page = try await blockingRequest(app, "GET", "/legacy/notes", user: "grace")
            #expect(page.status == "200 OK")
            #expect(page.text.contains("Signed in as <b>grace</b>"))
            #expect(page.text.contains("<b>Zoë</b>: two"))
            #expect(page.text.contains("<b>ada</b>: one"))
            #expect(try await blockingRequest(app, "GET", "/legacy/missing").status == "404 Not Found")

            let audit = try await database.auditTrail()
            #expect(audit.map(\.user) == ["Zoë", "ada"])
            #expect(audit.map(\.via) == ["legacy", "api"])
            #expect(try await database.notes().count == 2)
        }
    }

    @Test func concurrentRequestsKeepTheirOwnUsers() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            let count = 12
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    group.addTask {
                        let response =
                            index.isMultiple(of: 2)
                            ? try await postAPINote(app, "note \(index)", user: "user \(index)")
                            : try await postLegacyNote(app, "note \(index)", user: "user \(index)")
                        #expect(response.status == (index.isMultiple(of: 2) ? 201 : 303))
                    }
                    group.addTask {
                        let page = try await request(app, "GET", "/legacy/notes", user: "reader \(index)")
                        #expect(page.text.contains("Signed in as <b>reader \(index)</b>"))
                    }
                }
                try await group.waitForAll()
            }
            let notes = try await database.notes()
            #expect(notes.count == count)
            #expect(Set(notes.map(\.text)) == Set((0..<count).map { "note \($0)" }))
            for note in notes {
                #expect(note.text == "note " + note.author.dropFirst("user ".count))
            }
            let audit = try await database.auditTrail()
            #expect(audit.count == count)
            let authors = Dictionary(uniqueKeysWithValues: notes.map { ($0.id, $0.author) })
            for entry in audit {
                #expect(entry.user == authors[entry.noteID])
                let index = Int(entry.user.dropFirst("user ".count)) ?? -1
                #expect(entry.via == (index.isMultiple(of: 2) ? "api" : "legacy"))
            }
        }
    }

    // MARK: Thread-bound connections

    @Test func threadSensitiveCallsUseOneConnectionOnOneThread() async throws {
        try await withDatabase { database in
            let legacyPool = BlockingThreadPool(threads: 2, queueLimit: nil, name: "legacy-test")
            defer { legacyPool.shutdown() }
            let app = NotesApp.make(store: database.store, legacyExecutor: legacyPool)
            let store = database.store

            // Async handlers only: one connection, opened and used on one thread.
            for index in 0..<3 {
                #expect(try await postAPINote(app, "api \(index)", user: "ada").status == 201)
                #expect(try await request(app, "GET", "/api/notes").status == 200)
            }
            #expect(try await request(app, "GET", "/api/audit").status == 200)
            let asyncOnly = store.connections()
            try #require(asyncOnly.count == 1)
            let sensitive = asyncOnly[0]
            #expect(sensitive.usedOn == [sensitive.thread])
            #expect(sensitive.uses >= 10)  // 3 creates + 3 audit records + 3 lists + 1 audit read

            // Legacy handlers on pool threads: a connection of their own on each thread, and the
            // async connection untouched, even by the audit records that the legacy posts make
            // through AsyncToSync → SyncToAsync (they run back on the legacy thread).
            for index in 0..<4 {
                #expect(try await postLegacyNote(app, "legacy \(index)", user: "grace").status == 303)
                #expect(try await request(app, "GET", "/legacy/notes").status == 200)
            }
            let afterLegacy = store.connections()
            let legacyConnections = afterLegacy.filter { $0.id != sensitive.id }
            #expect(!legacyConnections.isEmpty)
            #expect(legacyConnections.count <= legacyPool.threads)
            #expect(Set(legacyConnections.map(\.thread)).count == legacyConnections.count)
            for connection in legacyConnections {
                #expect(connection.usedOn == [connection.thread])
                #expect(connection.thread != sensitive.thread)
            }
            // 4 posts × (begin, create, audit record, commit) + 4 pages × list, at least.
            #expect(legacyConnections.map(\.uses).reduce(0, +) >= 20)
            #expect(afterLegacy.first { $0.id == sensitive.id }?.uses == sensitive.uses)

            // More async requests: still the same single connection for them.
            #expect(try await request(app, "GET", "/api/notes").status == 200)
            let final = store.connections()
            #expect(final.count == afterLegacy.count)
            let sensitiveNow = try #require(final.first { $0.id == sensitive.id })
            #expect(sensitiveNow.uses > sensitive.uses)
            #expect(sensitiveNow.usedOn == [sensitive.thread])

            let audit = try await database.auditTrail()
            #expect(audit.filter { $0.via == "legacy" }.map(\.user) == Array(repeating: "grace", count: 4))
        }
    }

    @Test func concurrentLegacyRequestsOverlapSafely() async throws {
        try await withDatabase { database in
            let parties = 4
            let legacyPool = BlockingThreadPool(threads: parties, queueLimit: nil, name: "legacy-overlap")
            defer { legacyPool.shutdown() }
            let barrier = ThreadBarrier(parties: parties)
            let app = NotesApp.make(store: database.store, legacyExecutor: legacyPool, beforeLegacyWrite: barrier.arrive)

            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<parties {
                    group.addTask { try await postLegacyNote(app, "overlap \(index)", user: "writer \(index)").status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 303, count: parties))

            // All four handlers were inside at the same moment, each on a thread of its own.
            #expect(!barrier.timedOut)
            #expect(barrier.arrivals.count == parties)
            #expect(Set(barrier.arrivals).count == parties)

            // Their writes (queued on SQLite's write lock) all landed, each with its audit entry.
            let notes = try await database.notes()
            #expect(Set(notes.map(\.text)) == Set((0..<parties).map { "overlap \($0)" }))
            for note in notes {
                #expect(note.text == "overlap " + note.author.dropFirst("writer ".count))
            }
            let audit = try await database.auditTrail()
            #expect(Set(audit.map(\.noteID)) == Set(notes.map(\.id)))
            #expect(audit.allSatisfy { $0.via == "legacy" && $0.user.hasPrefix("writer ") })

            // One connection per handler thread, each used only there.
            let connections = database.store.connections()
            #expect(connections.count == parties)
            #expect(Set(connections.map(\.thread)) == Set(barrier.arrivals))
            for connection in connections {
                #expect(connection.usedOn == [connection.thread])
            }
        }
    }

    @Test func storeRefusesToBlockAsyncCode() async throws {
        try await withDatabase { database in
            #expect(throws: StoreError.calledFromAsyncContext) { try database.store.list() }
            #expect(database.store.connections().isEmpty)
        }
    }

    // MARK: Bad input

    @Test func badInputGetsA400AndChangesNothing() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            #expect(try await postAPINote(app, "kept", user: "ada").status == 201)
            #expect(try await postLegacyNote(app, "kept too", user: "grace").status == 303)
            let notesBefore = try await database.notes()
            let auditBefore = try await database.auditTrail()
            #expect(notesBefore.count == 2)
            #expect(auditBefore.count == 2)

            let invalid = try await postJSON(app, #"{"text": "unterminated"#, user: "mallory")
            #expect(invalid.status == 400)
            #expect(invalid.headers["content-type"] == "application/json")
            #expect(try errorMessage(invalid).hasPrefix("Invalid JSON"))

            let missing = try await postJSON(app, #"{"title": "no text"}"#)
            #expect(missing.status == 400)
            #expect(try errorMessage(missing) == "Missing field 'text'.")

            let wrongType = try await postJSON(app, #"{"text": 42}"#)
            #expect(wrongType.status == 400)
            #expect(try errorMessage(wrongType) == "Wrong type for field 'text'.")

            let blank = try await postJSON(app, #"{"text": "  \n "}"#)
            #expect(blank.status == 400)
            #expect(try errorMessage(blank) == "Field 'text' must not be empty.")

            let notAnObject = try await postJSON(app, #"["text"]"#)
            #expect(notAnObject.status == 400)

            let wrongMediaType = try await request(app, "POST", "/api/notes", body: "text=x", contentType: "application/x-www-form-urlencoded")
            #expect(wrongMediaType.status == 415)

            for form in ["title=no+text", "", "text=", "text=+++", "tex=t"] {
                let response = try await postForm(app, form, user: "mallory")
                #expect(response.status == 400, "form \(form)")
                #expect(response.text == "Missing form field 'text'.\n", "form \(form)")
            }

            let tooLarge = try await postForm(app, "text=" + String(repeating: "a", count: 70 * 1024))
            #expect(tooLarge.status == 413)

            #expect(try await database.notes() == notesBefore)
            #expect(try await database.auditTrail() == auditBefore)
        }
    }

    // MARK: Routing, lifespan, persistence

    @Test func routing() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            let index = try await request(app, "GET", "/")
            #expect(index.status == 200)
            #expect(index.text.contains("/legacy/notes"))

            let unknown = try await request(app, "GET", "/nowhere")
            #expect(unknown.status == 404)
            #expect(try errorMessage(unknown) == "Nothing at /nowhere.")

            let wrongMethod = try await request(app, "DELETE", "/api/notes")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers["allow"] == "GET, POST")

            let legacyWrongMethod = try await request(app, "PUT", "/legacy/notes")
            #expect(legacyWrongMethod.status == 405)
            #expect(legacyWrongMethod.headers["allow"] == "GET, POST")

            #expect(try await request(app, "GET", "/legacy/elsewhere").status == 404)
            #expect(try await request(app, "GET", "/legacynotes").status == 404)
        }
    }

    @Test func lifespanStartsAndStops() async throws {
        try await withDatabase { database in
            let communicator = ApplicationCommunicator(application: NotesApp.make(store: database.store), scope: .lifespan(LifespanScope()))
            try await communicator.sendInput(.lifespanStartup)
            #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .lifespanStartupComplete)
            try await communicator.sendInput(.lifespanShutdown)
            #expect(try await communicator.receiveOutput(timeout: .seconds(60)) == .lifespanShutdownComplete)
            try await communicator.wait(timeout: .seconds(60))
        }
    }

    @Test func notesPersistInTheWALModeFile() async throws {
        try await withDatabase { database in
            let app = NotesApp.make(store: database.store)
            #expect(try await postLegacyNote(app, "durable", user: "ada").status == 303)
            database.store.close()
            #expect(database.store.connections().allSatisfy { $0.isClosed })

            let directory = database.directory
            let (notes, mode) = try await SyncToAsync.run(threadSensitive: false) {
                let reopened = try NoteStore(directory: directory)
                defer { reopened.close() }
                return (try reopened.list(), try reopened.journalMode())
            }
            #expect(notes.map(\.text) == ["durable"])
            #expect(mode == "wal")

            // The closed store refuses politely instead of touching a closed handle.
            let closed = try await request(app, "GET", "/api/notes")
            #expect(closed.status == 500)
        }
    }
}
