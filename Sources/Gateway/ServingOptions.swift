import ArgumentParser

/// Options both servers honour: the slow-request log, the mount path, the concurrency limit and
/// the access log.
struct ServingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Log a request still running after this many seconds: one warning line while it runs (PHP-FPM's slowlog), on both servers. 0: off.",
            valueName: "SECONDS"
        )
    )
    var slowLog: Double = 5

    @Option(
        help: ArgumentHelp(
            "Where the application is mounted (WSGI SCRIPT_NAME, ASGI root_path). HTTP: the proxy in front strips PATH; the application sees it as root_path in front of each path (uvicorn's --root-path). FastCGI: requests under PATH get it as SCRIPT_NAME and the rest as PATH_INFO, unless nginx sends PATH_INFO itself (fastcgi_split_path_info).",
            valueName: "PATH"
        )
    )
    var rootPath: String?

    @Option(
        help: ArgumentHelp(
            "Most requests served at once. HTTP: past N, a request gets 503 at once (uvicorn's --limit-concurrency). FastCGI: at most N worker threads (the smaller of --threads and N); further requests wait in the listen backlog, where nginx's timeouts and fastcgi_next_upstream apply, because a FastCGI backend answers only the connections it accepts.",
            valueName: "N"
        )
    )
    var limitConcurrency: Int?

    @Flag(inversion: .prefixedNo, help: "Log one line per request (at info), on both servers.")
    var accessLog = true

    /// The slow-request threshold; `nil` when off.
    var slowRequestThreshold: Duration? {
        slowLog > 0 ? .milliseconds(Int64((slowLog * 1000).rounded())) : nil
    }

    func validate() throws {
        guard slowLog.isFinite, slowLog >= 0 else {
            throw ValidationError("--slow-log must be a number of seconds, 0 or more (0: off), got \(slowLog).")
        }
        if let limitConcurrency, limitConcurrency < 1 {
            throw ValidationError("--limit-concurrency must be at least 1, got \(limitConcurrency).")
        }
        if let rootPath {
            guard rootPath.hasPrefix("/"), rootPath.count > 1, !rootPath.hasSuffix("/") else {
                throw ValidationError("--root-path must start with '/' and not end with one (e.g. /app), got '\(rootPath)'.")
            }
            guard !rootPath.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true })
            else {
                throw ValidationError("--root-path must be a plain path (no query, fragment, spaces or control characters), got '\(rootPath)'.")
            }
        }
    }
}
