// The notes app halfway through its migration from blocking to async, served over HTTP (or behind
// nginx over FastCGI): new async JSON routes under /api, legacy blocking WSGI-style pages under
// /legacy, one SQLite database.
//
//   swift run LegacyMigration [--port 8080] [--data DIR] [--fastcgi unix:PATH|HOST:PORT]
//                             [--threads N] [--no-access-log]
//
// Without --data the database lives in a new temporary directory, removed when the server stops.
import ASGIFastCGI
import ASGIHTTPServer
import AsyncBridge
import LegacyMigrationApp
import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Prints `message` and exits with status 2 (a usage error).
func fail(_ message: String) -> Never {
    print(message)
    exit(2)
}

let usage = "usage: LegacyMigration [--port N] [--data DIR] [--fastcgi unix:PATH|HOST:PORT] [--threads N] [--no-access-log]"
var arguments = CommandLine.arguments.dropFirst()
var port = 8080
var dataDirectory: String? = nil
var fastCGIBind: FastCGIConfiguration.Bind? = nil
var threads: Int? = nil
var accessLog = true
while let argument = arguments.popFirst() {
    switch argument {
    case "--port":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), (0...65535).contains(value) else {
            fail("--port needs a number from 0 to 65535\n\(usage)")
        }
        port = value
    case "--data":
        guard let value = arguments.popFirst(), !value.isEmpty else { fail("--data needs a directory\n\(usage)") }
        dataDirectory = value
    case "--fastcgi":
        guard let value = arguments.popFirst(), let bind = FastCGIConfiguration.Bind(value, mode: 0o666) else {
            fail("--fastcgi needs unix:PATH or HOST:PORT\n\(usage)")
        }
        fastCGIBind = bind
    case "--threads":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value > 0 else { fail("--threads needs a positive number\n\(usage)") }
        threads = value
    case "--no-access-log":
        accessLog = false
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        fail(usage)
    }
}

/// A new private directory under `$TMPDIR` (or `/tmp`).
func makeTemporaryDirectory() -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(base)/legacy-migration-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { fail("cannot create a temporary directory in \(base)") }
    return String(cString: made)
}

let logger = Logger(label: "LegacyMigration")
let temporary = dataDirectory == nil
let directory = dataDirectory ?? makeTemporaryDirectory()

// Opening the database blocks (file I/O): do it off the cooperative pool, as any blocking call.
let store = try await SyncToAsync.run(threadSensitive: false) { try NoteStore(directory: directory) }
logger.notice("Notes database: \(store.path)\(temporary ? " (temporary: removed on exit; pass --data DIR to keep it)" : "")")

let app = NotesApp.make(store: store, logger: logger)
var failed = false
do {
    // Until SIGTERM or SIGINT, then a graceful shutdown: in-flight requests finish first.
    if let fastCGIBind {
        let configuration = FastCGIConfiguration(bind: fastCGIBind, workerThreads: threads, accessLog: accessLog)
        let server = FastCGIServer(application: app, configuration: configuration, logger: logger)
        try await ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        ).run()
    } else {
        let configuration = HTTPServerConfiguration(port: port, accessLog: accessLog)
        try await ASGIHTTPServer(application: app, configuration: configuration, logger: logger).runService()
    }
} catch {
    logger.error("Server failed: \(String(describing: error))")
    failed = true
}
store.close()
if temporary {
    for name in ["notes.sqlite3", "notes.sqlite3-wal", "notes.sqlite3-shm"] {
        unlink("\(directory)/\(name)")
    }
    rmdir(directory)
}
exit(failed ? 1 : 0)
