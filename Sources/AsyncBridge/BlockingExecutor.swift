/// Something that runs blocking work on threads that are not Swift's cooperative pool.
///
/// Pass one to ``syncToAsync(threadSensitive:executor:_:)`` or ``SyncToAsync/run(threadSensitive:executor:_:)``
/// (with `threadSensitive: false`) to choose where a non-thread-sensitive call runs. The default is
/// ``BlockingThreadPool/shared``.
public protocol BlockingExecutor: Sendable {
    /// Runs `work` once, soon, on a thread that may block.
    ///
    /// - Throws: when the executor cannot accept the work (full or shut down); the caller of the
    ///   bridge receives the error.
    func execute(_ work: @escaping @Sendable () -> Void) throws
}
