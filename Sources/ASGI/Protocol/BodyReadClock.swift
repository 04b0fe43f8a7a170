/// How long a server may wait for the next bytes of a request body: the one rule combining the
/// read timeout (no wait longer than it) and the minimum data rate (``MinimumDataRate``), counted
/// over the time spent waiting for the client only (while the application works on what it has,
/// the client is not at fault).
///
/// ```swift
/// var clock = BodyReadClock(readTimeout: .seconds(60), minimumRate: ServerDefaults.minimumBodyDataRate)
/// let wait = clock.allowance          // .seconds(5): the grace period
/// clock.record(bytes: 2_400, waited: .seconds(1))
/// clock.allowance                     // .seconds(9): 2,400 bytes at 240 B/s earned 10 s of waiting
/// ```
@_spi(ASGIFrontend) public struct BodyReadClock: Sendable, Hashable {
    /// The longest single wait for body bytes (`nil`: none).
    public let readTimeout: Duration?
    /// The least data rate (`nil`: none).
    public let minimumRate: MinimumDataRate?
    /// Body bytes received so far.
    public private(set) var bytes = 0
    /// Time spent waiting for them.
    public private(set) var waited: Duration = .zero

    /// A clock for one request body, with no bytes received yet.
    public init(readTimeout: Duration?, minimumRate: MinimumDataRate?) {
        self.readTimeout = readTimeout
        self.minimumRate = minimumRate
    }

    /// How long the next wait for body bytes may last (`nil`: without limit); `.zero` when the
    /// client is already too slow.
    public var allowance: Duration? {
        var limit = readTimeout
        if let minimumRate {
            let earned = max(minimumRate.gracePeriod, .seconds(Double(bytes) / Double(minimumRate.bytesPerSecond)))
            let left = earned - waited
            limit = limit.map { min($0, left) } ?? left
        }
        return limit.map { max($0, .zero) }
    }

    /// Counts `bytes` received after a wait of `waited`.
    public mutating func record(bytes count: Int, waited duration: Duration) {
        bytes += count
        waited += duration
    }
}
