import ASGI
import ArgumentParser

/// What the HTTP server allows a client: how slowly it may send a request body, how much of it a
/// WSGI-style application's bridge reads before taking a thread, and the WebSocket limits (uvicorn's `--ws-max-size` and `--ws-ping-interval`).
struct HTTPClientOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "HTTP: the longest wait for the next bytes of a request body; past it the request gets 408. 0: no limit.",
            valueName: "SECONDS"
        )
    )
    var bodyTimeout: Double = Double(ServerDefaults.readTimeout.components.seconds)

    @Option(
        help: ArgumentHelp(
            "HTTP: the slowest a request body may arrive after its first 5 seconds, in bytes per second (Kestrel's MinRequestBodyDataRate); a slower upload gets 408, so a client trickling bytes cannot hold a request or a thread. 0: no minimum.",
            valueName: "BYTES"
        )
    )
    var minBodyRate: Int = ServerDefaults.minimumBodyDataRate?.bytesPerSecond ?? 0

    @Option(
        help: ArgumentHelp(
            "HTTP, WSGI-style applications: how much of a request body is read on the event loop before a blocking thread is taken (the whole body when it is smaller), so a slow uploader waits without holding a thread; a larger body then streams to the application, bounded by --body-timeout and --min-body-rate. 0: take a thread at once.",
            valueName: "BYTES"
        )
    )
    var bodyPrefetch: Int = ServerDefaults.bodyPrefetchBytes

    @Option(
        help: ArgumentHelp(
            "HTTP: the largest WebSocket message (all its frames together); a larger one closes the connection with 1009.",
            valueName: "BYTES"
        )
    )
    var wsMaxSize: Int = ServerDefaults.maxWebSocketMessageBytes

    @Option(
        help: ArgumentHelp(
            "HTTP: ping a WebSocket peer that sent nothing for this long; one still silent a whole interval after the ping is closed with 1011. 0: no pings.",
            valueName: "SECONDS"
        )
    )
    var wsPingInterval: Double = Double(ServerDefaults.webSocketPingInterval.components.seconds)

    /// `--body-timeout`; `nil` when off.
    var bodyReadTimeout: Duration? { Self.duration(bodyTimeout) }

    /// `--min-body-rate`; `nil` when off.
    var minimumBodyDataRate: MinimumDataRate? {
        guard minBodyRate > 0 else { return nil }
        return MinimumDataRate(bytesPerSecond: minBodyRate, gracePeriod: ServerDefaults.minimumBodyDataRate?.gracePeriod ?? .seconds(5))
    }

    /// `--ws-ping-interval`; `nil` when off.
    var webSocketPingInterval: Duration? { Self.duration(wsPingInterval) }

    private static func duration(_ seconds: Double) -> Duration? {
        seconds > 0 ? .milliseconds(Int64((seconds * 1000).rounded())) : nil
    }

    func validate() throws {
        for (flag, value) in [("--body-timeout", bodyTimeout), ("--ws-ping-interval", wsPingInterval)] {
            guard value.isFinite, value >= 0 else {
                throw ValidationError("\(flag) must be a number of seconds, 0 or more (0: off), got \(value).")
            }
        }
        guard minBodyRate >= 0 else {
            throw ValidationError("--min-body-rate must be 0 or more bytes per second (0: no minimum), got \(minBodyRate).")
        }
        guard bodyPrefetch >= 0 else {
            throw ValidationError("--body-prefetch must be 0 or more bytes (0: take a blocking thread at once), got \(bodyPrefetch).")
        }
        guard wsMaxSize >= 1 else {
            throw ValidationError("--ws-max-size must be at least 1 byte, got \(wsMaxSize).")
        }
    }
}
