@_spi(ASGIFrontend) import ASGI
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// What every connection of one running server shares: the application, the settings, the
/// lifespan state, the metrics and the counters behind the concurrency limits.
final class ServerContext: Sendable {
    let application: any ASGIApplication
    let configuration: HTTPServerConfiguration
    let logger: Logger
    let metrics: ServerMetrics
    /// The lifespan state to copy into request scopes (`nil`: lifespan is off or unsupported).
    let lifespanState: LifespanState?
    /// The `root_path` of every scope.
    let rootPath: String
    let idleTimeout: TimeAmount
    let sendTimeout: TimeAmount?
    let webSocketCloseTimeout: TimeAmount
    let accessLog: Bool

    private let inFlight = Atomic<Int>(0)
    private let connections = Atomic<Int>(0)

    /// What HTTP scopes announce: trailers (sent to clients that accept them) and pathsend (`sendfile`).
    static let httpExtensions: [String: [String: ASGIValue]] = [ServerExtension.trailers: [:], ServerExtension.pathsend: [:]]
    static let webSocketExtensions: [String: [String: ASGIValue]] = [ServerExtension.webSocketHTTPResponse: [:]]

    init(application: any ASGIApplication, configuration: HTTPServerConfiguration, logger: Logger, lifespanState: LifespanState?) {
        self.application = application
        self.configuration = configuration
        self.logger = logger
        self.metrics = ServerMetrics(configuration.metrics)
        self.lifespanState = lifespanState
        self.rootPath = RootPath.normalized(configuration.rootPath)
        self.idleTimeout = TimeAmount(configuration.idleTimeout)
        self.sendTimeout = configuration.sendTimeout.map { TimeAmount($0) }
        self.webSocketCloseTimeout = TimeAmount(configuration.webSocketCloseTimeout)
        self.accessLog = configuration.accessLog
    }

    /// Counts a request in; `false` (and nothing counted) when the concurrency limit is reached.
    func admitRequest() -> Bool {
        let now = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        if let limit = configuration.maxConcurrentRequests, now > limit {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        metrics.requestStarted()
        return true
    }

    /// Counts a request out.
    func requestDone() {
        inFlight.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Counts a connection in; `false` when it is over the connection limit (it is still counted
    /// until ``connectionClosed()``).
    func connectionOpened() -> Bool {
        metrics.connectionOpened()
        let now = connections.wrappingAdd(1, ordering: .relaxed).newValue
        if let limit = configuration.maxConcurrentConnections, now > limit { return false }
        return true
    }

    func connectionClosed() {
        metrics.connectionClosed()
        connections.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Logs one request with the package's access-log record (when the access log is on).
    func logAccess(id: RequestID, head: HTTPRequestHead, client: ASGIAddress?, status: Int?, bytes: Int?, duration: Duration, aborted: Bool) {
        guard accessLog else { return }
        AccessLogRecord(
            id: id,
            method: head.method.rawValue,
            target: head.uri,
            httpVersion: ASGIRequestHead.httpVersion(major: head.version.major, minor: head.version.minor),
            client: client,
            status: status,
            bytes: bytes,
            duration: duration,
            outcome: aborted ? .aborted : nil
        ).log(to: logger)
    }

    /// A snapshot of the lifespan state for a new scope.
    var stateSnapshot: [String: ASGIValue]? {
        lifespanState?.snapshot()
    }
}
