public import AsyncBridge
public import CoreMetrics

/// The swift-metrics an ``ASGIHTTPServer`` records, and the labels they are recorded under.
///
/// The metrics go to whatever backend the executable bootstrapped with `MetricsSystem.bootstrap`
/// (none: they cost next to nothing). Override a label to fit your naming scheme, and add
/// `dimensions` to tell several servers apart:
///
/// ```swift
/// var metrics = HTTPServerMetricsConfiguration()
/// metrics.requestsLabel = "legacy_requests_total"
/// metrics.dimensions = [("server", "legacy")]
/// ```
public struct HTTPServerMetricsConfiguration: Sendable {
    /// Whether to record metrics at all. Default `true`.
    public var enabled: Bool
    /// `Counter`: requests answered (HTTP requests and WebSocket sessions), with a `status`
    /// dimension holding the status class (`"2xx"`, `"4xx"`, …; `"101"` for WebSocket sessions).
    public var requestsLabel: String
    /// `Meter`: requests being served right now.
    public var inFlightLabel: String
    /// `Meter`: open connections.
    public var connectionsLabel: String
    /// `Timer`: time from the request head to the end of the response.
    public var durationLabel: String
    /// `Gauge`: work items waiting in ``bridgePool``'s queue, sampled every ``bridgeQueueSampleInterval``.
    public var bridgeQueueLabel: String
    /// The blocking pool whose queue depth is sampled (where `WSGIToASGI` runs legacy applications);
    /// `nil`: do not sample. Default `BlockingThreadPool.shared`.
    public var bridgePool: BlockingThreadPool?
    /// How often the bridge queue depth is sampled. Default 1 second.
    public var bridgeQueueSampleInterval: Duration
    /// Dimensions added to every metric.
    public var dimensions: [(String, String)]
    /// The metrics backend to record into; `nil`: the one bootstrapped in `MetricsSystem`.
    public var factory: (any MetricsFactory)?

    /// Creates the configuration with the default labels.
    public init(
        enabled: Bool = true,
        requestsLabel: String = "asgi_http_requests_total",
        inFlightLabel: String = "asgi_http_requests_in_flight",
        connectionsLabel: String = "asgi_http_connections",
        durationLabel: String = "asgi_http_request_duration",
        bridgeQueueLabel: String = "asgi_bridge_queue_depth",
        bridgePool: BlockingThreadPool? = .shared,
        bridgeQueueSampleInterval: Duration = .seconds(1),
        dimensions: [(String, String)] = [],
        factory: (any MetricsFactory)? = nil
    ) {
        self.enabled = enabled
        self.requestsLabel = requestsLabel
        self.inFlightLabel = inFlightLabel
        self.connectionsLabel = connectionsLabel
        self.durationLabel = durationLabel
        self.bridgeQueueLabel = bridgeQueueLabel
        self.bridgePool = bridgePool
        self.bridgeQueueSampleInterval = bridgeQueueSampleInterval
        self.dimensions = dimensions
        self.factory = factory
    }
}
