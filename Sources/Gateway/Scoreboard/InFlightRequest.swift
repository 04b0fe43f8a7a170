/// A request a worker is serving, as its scoreboard entry holds it.
struct InFlightRequest: Sendable, Hashable {
    /// The request method.
    var method: String
    /// The request path (without the query), cut to what an entry holds.
    var path: String
    /// Whether the path was longer than an entry holds.
    var pathCut: Bool
    /// When it started, on the monotonic clock.
    var startNanos: UInt64

    /// `GET /path` (`…` marks a cut path).
    var summary: String { "\(method) \(path)\(pathCut ? "…" : "")" }

    /// Seconds it has run at `now` (0 for a `now` read before it started).
    func seconds(at now: UInt64) -> Double {
        now > startNanos ? Double(now - startNanos) / 1e9 : 0
    }
}
