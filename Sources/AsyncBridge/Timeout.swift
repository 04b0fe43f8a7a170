/// Thrown by ``withTimeout(_:_:)`` when the time runs out.
///
/// Match on ``code`` (today always ``Code/timedOut``; new codes may be added in later versions).
public struct TimeoutError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case timedOut
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// The body did not finish within the limit.
        public static let timedOut = Code(.timedOut)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The time limit that was exceeded.
    public let duration: Duration

    /// Creates the error for a limit of `duration`.
    public init(duration: Duration) {
        self.code = .timedOut
        self.duration = duration
    }

    /// What happened and what to do.
    public var description: String {
        "The operation did not finish within \(duration); raise the limit if it is too tight, or find what "
            + "the operation waits for (a blocking body stops only when it returns)."
    }
}

/// Runs `body`, throwing ``TimeoutError`` if it has not finished within `duration`.
///
/// The body runs in a child task that is cancelled when time runs out, and the call returns once
/// that child has finished. Code that honours cancellation stops promptly; a blocking body run
/// through ``SyncToAsync`` returns at once (its thread finishes on its own and the result is
/// dropped). A `duration` of zero or less throws at once without running `body`.
///
/// Cancellation of the caller is never turned into a timeout: it arrives as `CancellationError`.
///
/// A timeout costs nothing once the body has finished: its deadline lives in one process-wide heap
/// served by a thread of the library's own, and finishing early removes it at once. So wrapping
/// every request in a long timeout holds no memory for requests that ended.
///
/// ```swift
/// let row = try await withTimeout(.seconds(2)) { try await SyncToAsync.run { try db.slowQuery() } }
/// ```
public func withTimeout<R: Sendable>(
    _ duration: Duration,
    _ body: @escaping @Sendable () async throws -> R
) async throws -> R {
    guard duration > .zero else { throw TimeoutError(duration: duration) }
    return try await withThrowingTaskGroup(of: TimeoutRace<R>.self) { group in
        group.addTask { .finished(try await body()) }
        group.addTask {
            // Not `Task.sleep`: a cancelled sleep would hold this child task's memory until the
            // deadline, so every call that finished early would cost memory for the whole duration.
            try await DeadlineTimers.shared.sleep(for: duration)
            return .timedOut
        }
        defer { group.cancelAll() }
        switch try await group.next() {
        case .finished(let value):
            return value
        case .timedOut:
            throw TimeoutError(duration: duration)
        case nil:
            throw CancellationError()
        }
    }
}

private enum TimeoutRace<R: Sendable>: Sendable {
    case finished(R)
    case timedOut
}
