import ASGI
import ASGIFastCGI
public import ArgumentParser
import Logging

/// The command line of every executable that calls ``Gateway/run(_:)-(ASGIApplication)``.
struct GatewayOptions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: Gateway.commandName,
        abstract: "Serve this application over HTTP and/or FastCGI (behind nginx).",
        discussion: """
            With neither --http nor --fastcgi, serves HTTP on 127.0.0.1:8080. Both can be given to \
            serve both at once. SIGTERM or SIGINT stops accepting, lets in-flight requests finish \
            for up to --graceful-timeout seconds, and exits 0.

            A supervisor process binds the sockets and runs --workers worker processes that serve \
            them; it never runs the application. A worker that crashes is replaced at once (the \
            log names the request it was serving), one that hangs past --worker-timeout or grows \
            past --max-requests or --worker-memory-limit is replaced by a new one first. SIGHUP \
            starts workers from the executable on disk and retires the old ones once the new ones \
            accept (zero downtime). SIGQUIT stops at once. With NOTIFY_SOCKET set (systemd \
            Type=notify), READY=1, RELOADING=1 and STOPPING=1 are sent.
            """,
        version: asgiVersionString
    )

    @Option(name: .customLong("http"), help: ArgumentHelp("Serve HTTP on this address.", valueName: "HOST:PORT"))
    var http: HostPort?

    @Option(
        name: .customLong("fastcgi"),
        help: ArgumentHelp(
            "Serve FastCGI on a unix socket (unix:PATH), a TCP address (HOST:PORT) or the socket inherited on fd 0 (stdin, as spawn-fcgi and systemd socket activation pass it).",
            valueName: "unix:PATH|HOST:PORT|stdin"
        )
    )
    var fastcgi: String?

    @Option(help: ArgumentHelp("Threads that run blocking handlers (FastCGI workers; the HTTP server's blocking pool).", valueName: "N"))
    var threads: Int?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error or critical.", valueName: "LEVEL"))
    var logLevel: Logger.Level = .info

    @Option(help: ArgumentHelp("Largest request body accepted, in bytes (413 past it).", valueName: "BYTES"))
    var maxBody: Int = ServerDefaults.maxRequestBodyBytes ?? .max

    @Option(help: ArgumentHelp("Longest time a request may take before it is answered 504, in seconds (0: no limit).", valueName: "SECONDS"))
    var requestTimeout: Double = 60

    @Option(help: ArgumentHelp("How long in-flight requests may run after SIGTERM/SIGINT, in seconds.", valueName: "SECONDS"))
    var gracefulTimeout: Double = 30

    // MARK: Serving, the FastCGI unix socket, proxy headers (ServingOptions.swift, UnixSocketOptions.swift, ProxyOptions.swift)

    @OptionGroup(title: "Serving (both servers)") var serving: ServingOptions
    @OptionGroup(title: "FastCGI unix socket") var unixSocket: UnixSocketOptions
    @OptionGroup(title: "HTTP behind a reverse proxy") var proxy: ProxyOptions
    @OptionGroup(title: "HTTP clients and WebSockets") var httpClients: HTTPClientOptions

    // MARK: Supervised worker processes (SupervisionOptions.swift)

    @OptionGroup(title: "Process model and status") var supervision: SupervisionOptions

    /// The FastCGI address, parsed (a unix socket with `--socket-mode`, default 0660).
    var fastcgiBind: FastCGIConfiguration.Bind? {
        fastcgi.flatMap { FastCGIConfiguration.Bind($0, mode: unixSocket.socketMode?.bits ?? 0o660) }
    }

    /// Whether the HTTP server runs: `--http`, or neither server chosen.
    var servesHTTP: Bool { http != nil || fastcgi == nil }

    func validate() throws {
        if let fastcgi, FastCGIConfiguration.Bind(fastcgi) == nil {
            throw ValidationError("--fastcgi must be unix:PATH, HOST:PORT or stdin, got '\(fastcgi)'.")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads).") }
        if maxBody < 0 { throw ValidationError("--max-body must not be negative, got \(maxBody).") }
        if requestTimeout < 0 { throw ValidationError("--request-timeout must not be negative, got \(requestTimeout).") }
        if gracefulTimeout < 0 { throw ValidationError("--graceful-timeout must not be negative, got \(gracefulTimeout).") }
        try validateServingCombinations()
    }
}

/// `HOST:PORT` (IPv6 hosts in brackets: `[::1]:8080`).
struct HostPort: ExpressibleByArgument, Hashable, Sendable {
    var host: String
    var port: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":") else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(argument[argument.index(after: colon)...]), (0...65_535).contains(port) else {
            return nil
        }
        self.host = host
        self.port = port
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
