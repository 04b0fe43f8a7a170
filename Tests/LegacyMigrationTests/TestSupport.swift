import ASGI
import ASGITesting
import AsyncBridge
import Foundation
import LegacyMigrationApp
import Synchronization
import TestSupport

/// A notes database in a new temporary directory; ``remove()`` closes it and deletes the directory.
///
/// The app under test gets ``store``. The test reads the database through ``checker``, a second
/// store on the same file, so that its own reads open no connections in the app's store and
/// leave the app store's connection records to the app.
final class TemporaryDatabase: Sendable {
    let directory: String
    let store: NoteStore
    let checker: NoteStore

    init() async throws {
        let directory = try await SyncToAsync.run(threadSensitive: false) {
            let path = FileManager.default.temporaryDirectory
                .appendingPathComponent("legacy-migration-tests-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            return path
        }
        do {
            (self.store, self.checker) = try await SyncToAsync.run(threadSensitive: false) {
                (try NoteStore(directory: directory), try NoteStore(directory: directory))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        self.directory = directory
    }

    /// Every note, as the database has it now.
    func notes() async throws -> [Note] {
        try await SyncToAsync.run(threadSensitive: false) { [checker] in try checker.list() }
    }

    /// The audit trail, as the database has it now.
    func auditTrail() async throws -> [AuditEntry] {
        try await SyncToAsync.run(threadSensitive: false) { [checker] in try checker.auditTrail() }
    }

    /// Closes every connection of both stores and deletes the directory.
    func remove() {
        store.close()
        checker.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` with a fresh database, removed afterwards whatever happens.
func withDatabase(_ body: (TemporaryDatabase) async throws -> Void) async throws {
    let database = try await TemporaryDatabase()
    defer { database.remove() }
    try await body(database)
}

/// Sends one request to `app` in process and returns the whole response.
///
/// The timeout only keeps a broken test from hanging; nothing asserts on time.
func request(
    _ app: any ASGIApplication,
    _ method: String,
    _ path: String,
    user: String? = nil,
    body: String = "",
    contentType: String? = nil
) async throws -> TestResponse {
    var headers: ASGIHeaders = []
    if let user { headers.append("x-user", user) }
    if let contentType { headers.append("content-type", contentType) }
    let communicator = HTTPCommunicator(application: app, method: method, path: path, body: Array(body.utf8), headers: headers)
    return try await communicator.getResponse(timeout: .seconds(60))
}

/// `POST /api/notes` with a JSON body.
func postJSON(_ app: any ASGIApplication, _ json: String, user: String? = nil) async throws -> TestResponse {
    try await request(app, "POST", "/api/notes", user: user, body: json, contentType: "application/json")
}

/// `POST /api/notes` for a note with `text`.
func postAPINote(_ app: any ASGIApplication, _ text: String, user: String? = nil) async throws -> TestResponse {
    let json = String(decoding: try JSONEncoder().encode(["text": text]), as: UTF8.self)
    return try await postJSON(app, json, user: user)
}

/// `POST /legacy/notes` with a form body.
func postForm(_ app: any ASGIApplication, _ form: String, user: String? = nil) async throws -> TestResponse {
    try await request(app, "POST", "/legacy/notes", user: user, body: form, contentType: "application/x-www-form-urlencoded")
}

/// `POST /legacy/notes` for a note with `text`.
func postLegacyNote(_ app: any ASGIApplication, _ text: String, user: String? = nil) async throws -> TestResponse {
    let encoded = text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    return try await postForm(app, "text=" + encoded, user: user)
}

/// Decodes a JSON body the way the app encodes it (dates as ISO 8601).
func decode<T: Decodable>(_ type: T.Type, from response: TestResponse) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try decoder.decode(type, from: Data(response.body))
}

/// The `error` message of a JSON error body.
func errorMessage(_ response: TestResponse) throws -> String {
    try decode([String: String].self, from: response)["error"] ?? ""
}

/// Holds blocking threads until `parties` of them are inside at once.
///
/// When the last one arrives, every one of them is between its `arrive()` call and its return:
/// proof that they overlapped, with no sleeps. A generous deadline turns a bug (fewer threads
/// than expected) into a failed expectation instead of a hung test; nothing asserts on time.
final class ThreadBarrier: Sendable {
    private struct State {
        var arrived: [ThreadID] = []
        var timedOut = false
    }

    let parties: Int
    private let condition = NSCondition()
    private let state = Mutex(State())

    init(parties: Int) {
        self.parties = parties
    }

    /// The threads that arrived, in order.
    var arrivals: [ThreadID] { state.withLock { $0.arrived } }
    /// Whether a thread gave up waiting.
    var timedOut: Bool { state.withLock { $0.timedOut } }

    /// Blocks until `parties` threads have called `arrive()`.
    func arrive() {
        condition.lock()
        defer { condition.unlock() }
        state.withLock { $0.arrived.append(.current) }
        condition.broadcast()
        let deadline = Date().addingTimeInterval(30)
        while state.withLock({ $0.arrived.count < parties }) {
            if !condition.wait(until: deadline) {
                state.withLock { $0.timedOut = true }
                return
            }
        }
    }
}

/// A response as a blocking frontend got it: the status line, and the body written or returned.
struct BlockingResponse: Sendable {
    var status: String
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Serves one request to `app` as a FastCGI worker does: through `ASGIToWSGI` on a plain thread,
/// with the environ a web server sends (header values as their bytes read as latin-1).
func blockingRequest(
    _ app: any ASGIApplication,
    _ method: String,
    _ path: String,
    user: String? = nil,
    body: String = "",
    contentType: String? = nil
) async throws -> BlockingResponse {
    var variables = [
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "CONTENT_LENGTH": body.isEmpty ? "" : String(body.utf8.count),
    ]
    if let user { variables["HTTP_X_USER"] = String(latin1: Array(user.utf8)) }
    if let contentType { variables["CONTENT_TYPE"] = contentType }
    let environ = Environ(variables: variables, input: WSGIInput(bytes: Array(body.utf8)))
    let adapter = ASGIToWSGI(app)
    return try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(
                with: Result {
                    let written = Mutex<(String, [UInt8])>(("", []))
                    var body = try adapter(environ) { status, _, _ in
                        written.withLock { $0.0 = status }
                        return { chunk in written.withLock { $0.1 += chunk } }
                    }
                    defer { body.close() }
                    var returned: [UInt8] = []
                    while let chunk = try body.next() { returned += chunk }
                    return written.withLock { BlockingResponse(status: $0.0, body: $0.1 + returned) }
                }
            )
        }.start()
    }
}
