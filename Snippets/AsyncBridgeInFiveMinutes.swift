// The AsyncBridge tour ("AsyncBridge in five minutes", README).
import AsyncBridge

// snippet.hide
// Stand-ins for the application's own blocking and async code.
struct LegacyStore: Sendable {
    func user(id: Int) throws -> String { "user \(id)" }
}
struct Database: Sendable {
    func scan() throws -> [String] { ["a row"] }
    func slowQuery() throws -> String { "a slow row" }
}
struct ProfileService: Sendable {
    func load(_ userID: Int) async throws -> String { "profile \(userID)" }
}
func audit(_ user: String?) { print("audit:", user ?? "nobody") }
let legacyStore = LegacyStore()
let db = Database()
let profileService = ProfileService()
// snippet.show

// Blocking code from async code. It never runs on Swift's cooperative pool.
let user = try await SyncToAsync.run { try legacyStore.user(id: 42) }           // thread-sensitive
let rows = try await SyncToAsync.run(threadSensitive: false) { try db.scan() }  // the blocking pool

// Build a wrapper once, call it many times.
let loadUser = syncToAsync { (id: Int) in try legacyStore.user(id: id) }
let ada = try await loadUser(1)

// Async code from blocking code (a FastCGI worker thread, a legacy callback).
func profilePage(userID: Int) throws -> String {
    let profile = try AsyncToSync.run { try await profileService.load(userID) }
    return "<h1>\(profile)</h1>"
}

// Request-scoped state that follows the request across the bridge, both ways.
let currentUser = Local<String>()
try await LocalScope.run {
    try currentUser.set("ada")
    try await SyncToAsync.run { audit(currentUser.value) }   // sees "ada"
}

// A thread of its own for one request's thread-sensitive calls, and a timeout that returns at once.
try await ThreadSensitiveContext.run {
    let row = try await withTimeout(.seconds(2)) { try await SyncToAsync.run { try db.slowQuery() } }
    print(row)
}
