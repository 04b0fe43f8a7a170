/// An error of the runner: binding its sockets, or setting up its supervisor or a worker.
///
/// Match on ``code``; new codes may be added in later versions, so `switch` over them with a
/// `default`.
///
/// ```swift
/// do {
///     try await Gateway.run(app)
/// } catch let error as GatewayError where error.code == .bindFailed {
///     print("another server holds the address: \(error)")
/// }
/// ```
public struct GatewayError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case bindFailed
            case startFailed
            case workerHandOver
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// A listening socket could not be bound (the address is in use, the path not writable…).
        public static let bindFailed = Code(.bindFailed)
        /// The supervisor or a worker could not set itself up (shared memory, a thread, spawning).
        public static let startFailed = Code(.startFailed)
        /// A worker process found what its supervisor handed it (environment, descriptors) invalid:
        /// a worker is started by its supervisor, never by hand.
        public static let workerHandOver = Code(.workerHandOver)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do about it.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
