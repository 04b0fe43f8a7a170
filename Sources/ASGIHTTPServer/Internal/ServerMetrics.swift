import CoreMetrics
import Metrics

/// The metric handles a server records into, created once so that a request costs no lookups.
struct ServerMetrics: Sendable {
    private let enabled: Bool
    private let statusCounters: [Counter]
    private let webSocketCounter: Counter?
    private let inFlight: Meter?
    private let connections: Meter?
    private let duration: Timer?
    let bridgeQueue: Gauge?

    init(_ configuration: HTTPServerMetricsConfiguration) {
        enabled = configuration.enabled
        guard enabled else {
            statusCounters = []
            webSocketCounter = nil
            inFlight = nil
            connections = nil
            duration = nil
            bridgeQueue = nil
            return
        }
        let dimensions = configuration.dimensions
        let factory = configuration.factory ?? MetricsSystem.factory
        statusCounters = ["1xx", "2xx", "3xx", "4xx", "5xx"].map {
            Counter(label: configuration.requestsLabel, dimensions: dimensions + [("status", $0)], factory: factory)
        }
        webSocketCounter = Counter(label: configuration.requestsLabel, dimensions: dimensions + [("status", "101")], factory: factory)
        inFlight = Meter(label: configuration.inFlightLabel, dimensions: dimensions, factory: factory)
        connections = Meter(label: configuration.connectionsLabel, dimensions: dimensions, factory: factory)
        duration = Timer(label: configuration.durationLabel, dimensions: dimensions, factory: factory)
        bridgeQueue = configuration.bridgePool == nil ? nil : Gauge(label: configuration.bridgeQueueLabel, dimensions: dimensions, factory: factory)
    }

    func requestStarted() {
        inFlight?.increment()
    }

    /// A request ended with `status` (0: no response was sent) after `nanoseconds`.
    func requestEnded(status: Int, nanoseconds: Int64) {
        guard enabled else { return }
        inFlight?.decrement()
        let index = status / 100 - 1
        if index >= 0 && index < statusCounters.count { statusCounters[index].increment() }
        duration?.recordNanoseconds(nanoseconds)
    }

    /// A WebSocket session ended (accepted sessions count as `101`).
    func webSocketEnded(accepted: Bool, status: Int, nanoseconds: Int64) {
        guard enabled else { return }
        inFlight?.decrement()
        if accepted {
            webSocketCounter?.increment()
        } else {
            let index = status / 100 - 1
            if index >= 0 && index < statusCounters.count { statusCounters[index].increment() }
        }
        duration?.recordNanoseconds(nanoseconds)
    }

    func connectionOpened() { connections?.increment() }
    func connectionClosed() { connections?.decrement() }
}
