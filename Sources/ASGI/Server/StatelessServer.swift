public import Logging
import Synchronization

/// A base class for servers without connections — chat bots, UDP services, message buses — that
/// keep one application instance per outside party (asgiref's `StatelessServer`).
///
/// A subclass overrides ``handle()`` to read incoming messages and route each to the instance for
/// its sender with ``getOrCreateApplicationInstance(scopeID:scope:)``, and overrides
/// ``applicationSend(scope:message:)`` to deliver what an instance sends. ``run()`` runs `handle()`
/// and the ``applicationChecker()``, which removes finished instances and reports their errors.
///
/// ```swift
/// final class EchoBot: StatelessServer, @unchecked Sendable {
///     let transport: Transport
///     init(application: any ASGIApplication, transport: Transport) {
///         self.transport = transport
///         super.init(application: application)
///     }
///     override func handle() async throws {
///         for await (sender, text) in transport.messages {
///             let scope = Scope.websocket(WebSocketScope(client: ASGIAddress(host: sender, port: nil)))
///             getOrCreateApplicationInstance(scopeID: sender, scope: scope).send(.websocketReceive(text: text))
///         }
///     }
///     override func applicationSend(scope: Scope, message: SendEvent) async throws {
///         guard case .websocket(let ws) = scope, let to = ws.client?.host,
///               case .websocketSend(_, let text?) = message else { return }
///         try await transport.send(text, to: to)
///     }
/// }
/// ```
///
/// Unlike asgiref:
/// - there are never more than ``maxApplications`` instances (asgiref keeps one more);
/// - an instance that was cancelled, or that threw, never stops the checker;
/// - "least recently used" is the order of use kept in an O(1) linked table, not a wall-clock scan;
/// - the checker wakes when an instance finishes instead of polling every 0.1 s;
/// - when `handle()` returns, `run()` stops the checker and cancels and awaits the remaining
///   instances (asgiref leaves the checker running);
/// - errors go to the ``logger`` given to the initialiser, not the root logger.
///
/// Unchecked `Sendable`: its stored properties are immutable and `Sendable`, its mutable state all
/// behind the `state` `Mutex`; it is unchecked only because the class is `open` (the compiler cannot
/// check subclasses). Subclasses restate `@unchecked Sendable` (the compiler asks for it) and must
/// protect any mutable state they add.
open class StatelessServer: @unchecked Sendable {
    /// One running instance of the application.
    private struct Instance: Sendable {
        let id: UInt64
        let input: AsyncEventQueue<ReceiveEvent>
        let task: Task<Void, Never>

        /// Refuses further input and asks the instance to stop.
        func end() {
            input.close(throwing: CancellationError())
            task.cancel()
        }
    }

    /// What the checker learns when an instance's task ends.
    private struct Finished: Sendable {
        let scopeID: String
        let instanceID: UInt64
        let scope: Scope
        let result: Result<Void, any Error>
    }

    private struct State {
        var instances = LRUTable<String, Instance>()
        var nextInstanceID: UInt64 = 0
    }

    private enum RunPart: Sendable {
        case handle
        case checker
    }

    /// The application every instance runs.
    public let application: any ASGIApplication
    /// The most instances alive at once; creating one more deletes the least recently used first.
    public let maxApplications: Int
    /// Where the server reports application errors and instance life cycle events.
    public let logger: Logger

    private let state = Mutex(State())
    private let finished = AsyncEventQueue<Finished>()

    /// Creates a server for `application`.
    /// - Parameters:
    ///   - application: The ASGI application; ASGI 2 applications can be passed through
    ///     `guaranteeSingleCallable(_:)` first.
    ///   - maxApplications: The most instances kept at once (at least 1).
    ///   - logger: Where errors and life cycle events go.
    public init(
        application: any ASGIApplication,
        maxApplications: Int = 1000,
        logger: Logger = Logger(label: "asgi.stateless-server")
    ) {
        precondition(maxApplications >= 1, "maxApplications must be at least 1")
        self.application = application
        self.maxApplications = maxApplications
        self.logger = logger
    }

    /// Runs ``handle()`` and the ``applicationChecker()`` side by side until `handle()` returns.
    ///
    /// When `handle()` returns, the checker is cancelled; then every instance still alive is
    /// cancelled and awaited, so nothing the server started outlives this call. If `handle()` or the
    /// checker throws, the other is cancelled and the error is rethrown (after the same clean-up).
    /// Cancelling the calling task stops the server the same way.
    ///
    /// From a thread with no async context, run it with `AsyncToSync.run { try await server.run() }`.
    open func run() async throws {
        do {
            try await withThrowingTaskGroup(of: RunPart.self) { group in
                group.addTask {
                    try await self.handle()
                    return .handle
                }
                group.addTask {
                    try await self.applicationChecker()
                    return .checker
                }
                while let part = try await group.next() {
                    if part == .handle {
                        group.cancelAll()
                        return
                    }
                }
            }
        } catch {
            await stopAllApplicationInstances()
            throw error
        }
        await stopAllApplicationInstances()
    }

    /// Reads incoming messages and routes them to instances. Subclasses must override it; it
    /// runs until the server should stop, and ``run()`` returns when it does.
    /// - Throws: ``StatelessServerError/handleNotImplemented`` unless overridden.
    open func handle() async throws {
        throw StatelessServerError.handleNotImplemented
    }

    /// Delivers `message`, sent by the instance whose scope is `scope`. Subclasses must override it.
    /// An error thrown here is thrown from the instance's `send`.
    /// - Throws: ``StatelessServerError/applicationSendNotImplemented`` unless overridden.
    open func applicationSend(scope: Scope, message: SendEvent) async throws {
        throw StatelessServerError.applicationSendNotImplemented
    }

    /// The input of the instance for `scopeID`, creating the instance with `scope` if there is none.
    ///
    /// Using an existing instance marks it as the most recently used; its scope stays the one it was
    /// created with. Creating one when ``maxApplications`` are alive first deletes the least recently
    /// used ones (through ``deleteOldestApplicationInstance()``) until there is room, so the count
    /// never exceeds the maximum.
    ///
    /// The instance runs in a new task that inherits the caller's priority and task-local values
    /// (as asyncio's `ensure_future` copies the context). Its `send` calls
    /// ``applicationSend(scope:message:)`` with the scope it was created with.
    @discardableResult
    open func getOrCreateApplicationInstance(scopeID: String, scope: Scope) -> ApplicationInstanceInput {
        if let input = state.withLock({ $0.instances.touch(scopeID)?.input }) {
            return ApplicationInstanceInput(queue: input)
        }
        var count = applicationInstanceCount
        while count >= maxApplications {
            deleteOldestApplicationInstance()
            let remaining = applicationInstanceCount
            if remaining >= count { break }  // an override that deleted nothing: the lock below evicts
            count = remaining
        }
        let (input, evicted) = state.withLock { state -> (AsyncEventQueue<ReceiveEvent>, [(String, Instance)]) in
            if let existing = state.instances.touch(scopeID) { return (existing.input, []) }
            var evicted: [(String, Instance)] = []
            while state.instances.count >= maxApplications, let oldest = state.instances.removeOldest() {
                evicted.append(oldest)
            }
            state.nextInstanceID += 1
            let instance = startInstance(scopeID: scopeID, instanceID: state.nextInstanceID, scope: scope)
            state.instances.insert(scopeID, instance)
            return (instance.input, evicted)
        }
        for (evictedID, instance) in evicted {
            instance.end()
            logger.debug("Application instance evicted", metadata: ["scope_id": "\(evictedID)"])
        }
        return ApplicationInstanceInput(queue: input)
    }

    /// Deletes (and cancels) the least recently used instance, if there is one.
    open func deleteOldestApplicationInstance() {
        guard let (scopeID, instance) = state.withLock({ $0.instances.removeOldest() }) else { return }
        instance.end()
        logger.debug("Application instance evicted", metadata: ["scope_id": "\(scopeID)"])
    }

    /// Deletes (and cancels) the instance for `scopeID`.
    /// - Returns: Whether there was one.
    @discardableResult
    open func deleteApplicationInstance(scopeID: String) -> Bool {
        guard let instance = state.withLock({ $0.instances.remove(scopeID) }) else { return false }
        instance.end()
        return true
    }

    /// Removes instances as they finish and reports those that threw to
    /// ``applicationException(_:scopeID:scope:)``. Runs until cancelled; ``run()`` runs it.
    ///
    /// An instance that ends with `CancellationError` counts as finished without error, and nothing
    /// an instance does can make the checker itself fail.
    open func applicationChecker() async throws {
        while true {
            let done = try await finished.pop()
            state.withLock { state in
                if state.instances[done.scopeID]?.id == done.instanceID {
                    state.instances.remove(done.scopeID)
                }
            }
            switch done.result {
            case .success:
                logger.debug("Application instance finished", metadata: ["scope_id": "\(done.scopeID)"])
            case .failure(let error) where error is CancellationError:
                logger.debug("Application instance cancelled", metadata: ["scope_id": "\(done.scopeID)"])
            case .failure(let error):
                await applicationException(error, scopeID: done.scopeID, scope: done.scope)
            }
        }
    }

    /// Reports an instance that threw `error`. The default logs it at error level.
    open func applicationException(_ error: any Error, scopeID: String, scope: Scope) async {
        logger.error(
            "Exception inside application: \(error)",
            error: error,
            metadata: ["scope_id": "\(scopeID)", "scope_type": "\(scope.type)"]
        )
    }

    /// The scope IDs of the live instances, least recently used first.
    public var applicationInstanceIDs: [String] {
        state.withLock { $0.instances.keys }
    }

    private var applicationInstanceCount: Int {
        state.withLock { $0.instances.count }
    }

    private func startInstance(scopeID: String, instanceID: UInt64, scope: Scope) -> Instance {
        let input = AsyncEventQueue<ReceiveEvent>()
        let task = Task { [application, finished] in
            let result: Result<Void, any Error>
            do {
                try await application(
                    scope: scope,
                    receive: { try await input.pop() },
                    send: { message in try await self.applicationSend(scope: scope, message: message) }
                )
                result = .success(())
            } catch {
                result = .failure(error)
            }
            input.close(throwing: CancellationError())
            finished.push(Finished(scopeID: scopeID, instanceID: instanceID, scope: scope, result: result))
        }
        return Instance(id: instanceID, input: input, task: task)
    }

    private func stopAllApplicationInstances() async {
        let instances = state.withLock { $0.instances.removeAll() }
        for instance in instances { instance.end() }
        for instance in instances { await instance.task.value }
    }
}
