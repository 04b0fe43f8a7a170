import ArgumentParser

/// The runner's process model and status options: worker processes under a supervisor, their
/// timeout and recycling, and the status and ping paths.
struct SupervisionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Worker processes serving the application under a supervisor that replaces any that crash, hang or leak (0: serve in this process, for debuggers and embedding).",
            valueName: "N"
        )
    )
    var workers: Int = 1

    @Option(
        help: ArgumentHelp(
            "Replace a worker busy with one request for longer than this: a new worker starts, then the old one is killed (0: never; default: --request-timeout plus 30).",
            valueName: "SECONDS"
        )
    )
    var workerTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Replace a worker after it served this many requests; it finishes what it has once its replacement accepts (0: never).",
            valueName: "N"
        )
    )
    var maxRequests: Int = 0

    @Option(
        help: ArgumentHelp(
            "Add a random 0...N to each worker's --max-requests, so that workers are not replaced all at once.",
            valueName: "N"
        )
    )
    var maxRequestsJitter: Int = 0

    @Option(
        help: ArgumentHelp(
            "Replace a worker whose resident memory grows past this many MiB (checked between requests; 0: no limit).",
            valueName: "MiB"
        )
    )
    var workerMemoryLimit: Int = 0

    @Option(
        help: ArgumentHelp(
            "Answer this request path with the status of every worker (text; ?json for JSON, ?full for each worker and its requests) instead of the application.",
            valueName: "PATH"
        )
    )
    var status: String?

    @Option(help: ArgumentHelp("Answer this request path with 'pong' instead of the application.", valueName: "PATH"))
    var ping: String?

    func validate() throws {
        guard (0...1024).contains(workers) else {
            throw ValidationError("--workers must be between 0 and 1024, got \(workers).")
        }
        if let workerTimeout, workerTimeout < 0 {
            throw ValidationError("--worker-timeout must not be negative, got \(workerTimeout).")
        }
        if maxRequests < 0 { throw ValidationError("--max-requests must not be negative, got \(maxRequests).") }
        if maxRequestsJitter < 0 { throw ValidationError("--max-requests-jitter must not be negative, got \(maxRequestsJitter).") }
        if workerMemoryLimit < 0 { throw ValidationError("--worker-memory-limit must not be negative, got \(workerMemoryLimit).") }
        if workers == 0 {
            let needsWorkers = [
                workerTimeout.map { $0 > 0 } == true ? "--worker-timeout" : nil,
                maxRequests > 0 ? "--max-requests" : nil,
                maxRequestsJitter > 0 ? "--max-requests-jitter" : nil,
                workerMemoryLimit > 0 ? "--worker-memory-limit" : nil,
            ].compactMap { $0 }
            if !needsWorkers.isEmpty {
                throw ValidationError(
                    "\(needsWorkers.joined(separator: ", ")) replace worker processes: use --workers 1 or more (--workers 0 serves in this process)."
                )
            }
        }
        for (name, path) in [("--status", status), ("--ping", ping)] {
            if let path, !path.hasPrefix("/") { throw ValidationError("\(name) must be a path starting with '/', got '\(path)'.") }
        }
        if let status, status == ping { throw ValidationError("--status and --ping must be different paths.") }
    }

    /// The worker timeout in seconds, or `nil` for none: `--worker-timeout`, else
    /// `--request-timeout` plus 30 s (none when requests have no timeout either).
    func effectiveWorkerTimeout(requestTimeout: Double) -> Double? {
        if let workerTimeout { return workerTimeout > 0 ? workerTimeout : nil }
        return requestTimeout > 0 ? requestTimeout + 30 : nil
    }
}
