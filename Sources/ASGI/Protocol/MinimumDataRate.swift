/// The slowest a client may send a request body: after a grace period, the body must have arrived
/// at an average of at least ``bytesPerSecond`` over the time the server spent waiting for it
/// (as Kestrel's `MinRequestBodyDataRate`). A slower upload is cut off (408), so a client that
/// trickles a few bytes now and then cannot hold a request open, nor the thread serving it.
///
/// ```swift
/// let rate = MinimumDataRate(bytesPerSecond: 240, gracePeriod: .seconds(5))
/// ```
public struct MinimumDataRate: Sendable, Hashable {
    /// The least average rate, in bytes per second (at least 1).
    public var bytesPerSecond: Int
    /// How long the rate is not enforced at the start of the body.
    public var gracePeriod: Duration

    /// A rate of `bytesPerSecond`, enforced after `gracePeriod`.
    public init(bytesPerSecond: Int, gracePeriod: Duration) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        self.gracePeriod = gracePeriod
    }
}
