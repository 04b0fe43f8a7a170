// GatewayProbe: a WSGI-style application served by the Gateway runner, for the runner's
// end-to-end tests. Routes:
//   .../environ     REMOTE_ADDR, wsgi.url_scheme, HTTPS, SCRIPT_NAME, PATH_INFO as KEY=VALUE lines
//   /hold?name=N    writes $GATEWAY_PROBE_DIR/N.arrived, waits (at most 60 s) for N.release, answers "released"
//   /max-in-flight  the most requests this process has served at once
//   anything else   "hello"
// GATEWAY_PROBE_LOGGING: "bootstrap" calls LoggingSystem.bootstrap before Gateway.run; "host" also
// passes a logger whose handler marks its lines with "HOST-HANDLER", through Gateway.run(_:logger:).
// GATEWAY_PROBE_NOFILE=N: the process's descriptor limit, for tests that run it out of descriptors.
import ASGI
import Foundation
import Gateway
import Logging
import Synchronization

enum Counters {
    static let inFlight = Atomic<Int>(0)
    static let maxInFlight = Atomic<Int>(0)
}

let directory = ProcessInfo.processInfo.environment["GATEWAY_PROBE_DIR"] ?? "/nonexistent"

if let limit = ProcessInfo.processInfo.environment["GATEWAY_PROBE_NOFILE"].flatMap({ rlim_t($0) }) {
    var value = rlimit(rlim_cur: limit, rlim_max: limit)
    guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &value) == 0 else {
        fatalError("setrlimit(RLIMIT_NOFILE, \(limit)) failed: errno \(errno)")
    }
}

let app = WSGIApp { environ, startResponse in
    let now = Counters.inFlight.add(1, ordering: .relaxed).newValue
    defer { Counters.inFlight.subtract(1, ordering: .relaxed) }
    _ = Counters.maxInFlight.max(now, ordering: .relaxed)
    let path = environ["PATH_INFO"] ?? ""
    let text: String
    switch path {
    case _ where path.hasSuffix("/environ"):
        text =
            ["REMOTE_ADDR", "REMOTE_PORT", "HTTPS", "SCRIPT_NAME", "PATH_INFO"].map { "\($0)=\(environ[$0] ?? "")" }.joined(separator: "\n")
            + "\nurl_scheme=\(environ.urlScheme)\n"
    case "/hold":
        let name = (environ["QUERY_STRING"] ?? "").replacingOccurrences(of: "name=", with: "")
        _ = FileManager.default.createFile(atPath: "\(directory)/\(name).arrived", contents: nil)
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: "\(directory)/\(name).release"), Date() < deadline {
            usleep(5_000)
        }
        text = "released"
    case "/max-in-flight":
        text = String(Counters.maxInFlight.load(ordering: .relaxed))
    default:
        text = "hello"
    }
    let body = Array(text.utf8)
    _ = try startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", String(body.count))], nil)
    return [body]
}

/// Writes each line to standard error marked "HOST-HANDLER", to show whose handler logged it.
struct HostHandler: LogHandler {
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        FileHandle.standardError.write(Data("HOST-HANDLER \(event.level) \(merged["logger"].map { "[\($0)] " } ?? "")\(event.message)\n".utf8))
    }
}

switch ProcessInfo.processInfo.environment["GATEWAY_PROBE_LOGGING"] {
case "bootstrap":
    LoggingSystem.bootstrap(StreamLogHandler.standardError)
    try await Gateway.run(app)
case "host":
    LoggingSystem.bootstrap { _ in HostHandler() }
    try await Gateway.run(app, logger: Logger(label: "host"))
default:
    try await Gateway.run(app)
}
