/// An error the bridge throws instead of deadlocking, hanging or misbehaving silently.
///
/// Each error says what happened and what to do. Compare with the static members:
///
/// ```swift
/// #expect(throws: BridgeError.asyncToSyncInAsyncContext) { try indirectAsyncToSync() }
/// ```
public struct BridgeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching in `catch` clauses and tests.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Hashable, Sendable {
            case asyncToSyncInAsyncContext
            case wouldDeadlock
            case executorWithThreadSensitive
            case executorFinished
            case wrongThread
            case queueFull
            case executorShutDown
            case noLocalScope
        }

        fileprivate let backing: Backing

        /// `asyncToSync` was called from a task or a cooperative-pool thread.
        public static let asyncToSyncInAsyncContext = Code(backing: .asyncToSyncInAsyncContext)
        /// A thread-sensitive call targets a thread its own caller chain keeps busy.
        public static let wouldDeadlock = Code(backing: .wouldDeadlock)
        /// An executor was given together with `threadSensitive: true`.
        public static let executorWithThreadSensitive = Code(backing: .executorWithThreadSensitive)
        /// Work was submitted to a ``CurrentThreadExecutor`` that, with its whole chain, has finished.
        public static let executorFinished = Code(backing: .executorFinished)
        /// A ``CurrentThreadExecutor`` was run from a thread other than the one that created it.
        public static let wrongThread = Code(backing: .wrongThread)
        /// A ``BlockingThreadPool``'s queue is at its limit.
        public static let queueFull = Code(backing: .queueFull)
        /// A ``BlockingThreadPool`` was shut down.
        public static let executorShutDown = Code(backing: .executorShutDown)
        /// A `Local` was set from a task that does not own the current scope.
        public static let noLocalScope = Code(backing: .noLocalScope)

        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// `asyncToSync` was called from a task or a cooperative-pool thread.
    public static let asyncToSyncInAsyncContext = BridgeError(.asyncToSyncInAsyncContext)
    /// A thread-sensitive call targets a thread its own caller chain keeps busy.
    public static let wouldDeadlock = BridgeError(.wouldDeadlock)
    /// An executor was given together with `threadSensitive: true`.
    public static let executorWithThreadSensitive = BridgeError(.executorWithThreadSensitive)
    /// Work was submitted to a ``CurrentThreadExecutor`` that, with its whole chain, has finished.
    public static let executorFinished = BridgeError(.executorFinished)
    /// A ``CurrentThreadExecutor`` was run from a thread other than the one that created it.
    public static let wrongThread = BridgeError(.wrongThread)
    /// A ``BlockingThreadPool``'s queue is at its limit.
    public static let queueFull = BridgeError(.queueFull)
    /// A ``BlockingThreadPool`` was shut down.
    public static let executorShutDown = BridgeError(.executorShutDown)
    /// A `Local` was set from a task that does not own the current scope.
    public static let noLocalScope = BridgeError(.noLocalScope)

    /// A message that says what happened and what to do.
    public var description: String {
        switch code.backing {
        case .asyncToSyncInAsyncContext:
            return "You cannot use asyncToSync from inside a Swift task or on a cooperative-pool thread: "
                + "it would block a thread the async runtime needs. Just await the async function directly."
        case .wouldDeadlock:
            return "Thread-sensitive syncToAsync would deadlock: its target thread is running the synchronous "
                + "code that (directly or through a task it waits for) started this call. Call asyncToSync "
                + "from that code instead of blocking on a task, or pass threadSensitive: false."
        case .executorWithThreadSensitive:
            return "syncToAsync was given an executor together with threadSensitive: true; thread-sensitive "
                + "calls choose their own thread. Pass threadSensitive: false to use the executor."
        case .executorFinished:
            return "CurrentThreadExecutor has finished and no executor up its asyncToSync chain is live; "
                + "submit work while the operation it serves is running."
        case .wrongThread:
            return "A CurrentThreadExecutor can only be run from the thread that created it."
        case .queueFull:
            return "The blocking thread pool's queue is full; retry later, raise queueLimit or add threads."
        case .executorShutDown:
            return "The blocking thread pool has been shut down and accepts no more work."
        case .noLocalScope:
            return "Local.set was called from a task that does not own the current Local scope (a child task, "
                + "or a task outside every scope). Wrap the task's work in LocalScope.run { } or Local.withValue."
        }
    }
}
