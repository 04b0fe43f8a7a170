/// Bounds on a query string or `application/x-www-form-urlencoded` body.
///
/// Past a bound the parse throws ``FormError`` (`tooManyFields` or `bodyTooLarge`, HTTP 413)
/// instead of spending memory and time on a hostile input. The defaults are PHP's
/// `max_input_vars` (1,000) and a 1 MiB body, larger than any form a browser fills in by hand.
public struct FormLimits: Sendable, Hashable {
    /// The most fields (non-empty `&`-separated sequences).
    public var maxFields: Int
    /// The most bytes of input (the whole query string or body).
    public var maxBytes: Int

    /// Creates limits.
    public init(maxFields: Int = 1000, maxBytes: Int = 1024 * 1024) {
        self.maxFields = maxFields
        self.maxBytes = maxBytes
    }
}
