/// The `--status` and `--ping` paths, answered in the process that received the request from
/// the scoreboard every worker shares, before the application sees the request.
struct StatusEndpoints: Sendable {
    /// An answer to send instead of calling the application.
    struct Answer: Sendable {
        var contentType: String
        var body: [UInt8]
    }

    let statusPath: String?
    let pingPath: String?
    let scoreboard: Scoreboard
    /// The executable's name, shown as the pool.
    let pool: String

    /// Whether any path is answered (else the middleware skips the check).
    var isEmpty: Bool { statusPath == nil && pingPath == nil }

    /// The answer for a request to `path` with `query` (bytes after `?`), or `nil` when the
    /// application should get it.
    func answer(path: String, query: some Collection<UInt8>) -> Answer? {
        if let pingPath, path == pingPath {
            return Answer(contentType: "text/plain; charset=utf-8", body: Array("pong\n".utf8))
        }
        guard let statusPath, path == statusPath else { return nil }
        var json = false
        var full = false
        for item in query.split(separator: UInt8(ascii: "&")) {
            let name = item.prefix { $0 != UInt8(ascii: "=") }
            if name.elementsEqual("json".utf8) { json = true }
            if name.elementsEqual("full".utf8) { full = true }
        }
        let report = StatusReport(snapshot: .read(scoreboard), pool: pool, now: SystemCalls.monotonicNanos())
        if json {
            return Answer(contentType: "application/json", body: Array(report.json(full: full).utf8))
        }
        return Answer(contentType: "text/plain; charset=utf-8", body: Array(report.text(full: full).utf8))
    }
}
