import ASGI
import AsyncBridge
import Synchronization

/// Runs one instance of an ASGI application in a test: you feed its `receive()` and read what it
/// sends (asgiref's `ApplicationCommunicator`).
///
/// ```swift
/// let communicator = ApplicationCommunicator(application: app, scope: .http(HTTPScope(path: "/")))
/// try await communicator.sendInput(.httpRequest())
/// #expect(try await communicator.receiveOutput() == .httpResponseStart(status: 200))
/// #expect(try await communicator.receiveOutput() == .httpResponseBody(body: Array("hi".utf8)))
/// try await communicator.wait()
/// ```
///
/// The application starts at once, in a detached task (so task-local values of the test do not
/// leak into it), and is cancelled when the communicator is deinitialised.
///
/// Like a server, the communicator checks what the application sends: for an `http` scope, events
/// out of order make the application's `send` throw `ASGIProtocolError`. Once the response is
/// complete, `receive()` returns `http.disconnect` (after any input still queued); once a WebSocket
/// application sends `websocket.close`, `receive()` returns `websocket.disconnect` with that code.
///
/// Differences from asgiref, on purpose:
/// - ``wait(timeout:)`` throws `TimeoutError` when the application does not finish in time
///   (asgiref returns silently);
/// - ``sendInput(_:)`` to an application that finished throws ``CommunicatorError/applicationFinished``
///   (asgiref queues the event where nobody reads it);
/// - output the application sent before it failed is returned first, then its error is thrown,
///   so what a test sees does not depend on timing;
/// - ``receiveOutput(timeout:)`` when the application has finished and all its output was read
///   throws ``CommunicatorError/applicationFinished`` at once instead of waiting for the timeout.
public final class ApplicationCommunicator: Sendable {
    /// The scope the application was called with.
    public let scope: Scope

    private let input: AsyncEventQueue<ReceiveEvent>
    private let output: AsyncEventQueue<SendEvent>
    /// Holds the application's outcome as its terminal element once it has finished.
    private let outcome: AsyncEventQueue<Result<Void, any Error>>
    private let task: Task<Void, Never>

    /// Starts `application` with `scope`.
    public init(application: any ASGIApplication, scope: Scope) {
        let input = AsyncEventQueue<ReceiveEvent>()
        let output = AsyncEventQueue<SendEvent>()
        let outcome = AsyncEventQueue<Result<Void, any Error>>()
        let send = ApplicationSend(scope: scope, input: input, output: output)
        self.scope = scope
        self.input = input
        self.output = output
        self.outcome = outcome
        self.task = Task.detached {
            let result: Result<Void, any Error>
            do {
                try await application(scope: scope, receive: { try await input.pop() }, send: { try await send($0) })
                result = .success(())
            } catch {
                result = .failure(error)
            }
            outcome.setTerminal(result)
            input.close(throwing: CommunicatorError.applicationFinished)
            // A cancelled application finished without error, as `wait` reports it.
            switch result {
            case .failure(let error) where !(error is CancellationError): output.close(throwing: error)
            default: output.close(throwing: CommunicatorError.applicationFinished)
            }
        }
    }

    /// Starts an ASGI 2 (double-callable) application with `scope`.
    public convenience init(application: any ASGI2Application, scope: Scope) {
        self.init(application: guaranteeSingleCallable(application), scope: scope)
    }

    deinit {
        task.cancel()
    }

    /// Queues `event` for the application's next `receive()`.
    /// - Throws: The application's error if it failed; ``CommunicatorError/applicationFinished`` if
    ///   it finished otherwise.
    public func sendInput(_ event: ReceiveEvent) async throws {
        guard input.push(event) else {
            if case .failure(let error)? = try? outcome.tryPop(), !(error is CancellationError) { throw error }
            throw CommunicatorError.applicationFinished
        }
    }

    /// The next event the application sent, waiting up to `timeout` for it.
    ///
    /// When time runs out the application is cancelled (as asgiref does), so the communicator is
    /// of no further use.
    /// - Throws: The application's error once it failed and its earlier output was read;
    ///   ``CommunicatorError/applicationFinished`` once it finished (or was cancelled) and all its
    ///   output was read;
    ///   `TimeoutError` when nothing came in time.
    public func receiveOutput(timeout: Duration = .seconds(1)) async throws -> SendEvent {
        if let event = try output.tryPop() { return event }
        do {
            return try await withTimeout(timeout) { [output] in try await output.pop() }
        } catch let error as TimeoutError {
            task.cancel()
            throw error
        }
    }

    /// Whether the application sends nothing within `timeout`; the output is not consumed.
    ///
    /// It returns `false` as soon as an event is waiting, and `true` at once if the application has
    /// finished and all its output was read. The wait is event-driven; `interval` (asgiref's polling
    /// period) is accepted for compatibility and not needed.
    /// - Throws: The application's error if it failed and its output was all read.
    public func receiveNothing(
        timeout: Duration = .milliseconds(100),
        interval: Duration = .milliseconds(10)
    ) async throws -> Bool {
        do {
            if try output.isReady() { return false }
            try await withTimeout(timeout) { [output] in try await output.waitUntilReady() }
            return false
        } catch let error as CommunicatorError where error.code == .applicationFinished {
            return true
        } catch is TimeoutError {
            // The application may itself have failed with a `TimeoutError`: that is rethrown here.
            return try !output.isReady()
        }
    }

    /// Waits up to `timeout` for the application to finish.
    ///
    /// An application that ended by cancellation (for instance after a timeout here or in
    /// ``receiveOutput(timeout:)``) counts as finished without error.
    /// - Throws: The application's error if it failed; `TimeoutError` if it did not finish in time,
    ///   in which case it is cancelled (and not awaited).
    public func wait(timeout: Duration = .seconds(1)) async throws {
        let result: Result<Void, any Error>
        if let finished = try outcome.tryPop() {
            result = finished
        } else {
            do {
                result = try await withTimeout(timeout) { [outcome] in try await outcome.pop() }
            } catch let error as TimeoutError {
                task.cancel()
                throw error
            }
        }
        if case .failure(let error) = result, !(error is CancellationError) { throw error }
    }

    /// Cancels the application.
    public func cancel() {
        task.cancel()
    }

    /// Queues `event` without checking whether the application is still running.
    func enqueueInput(_ event: ReceiveEvent) {
        input.push(event)
    }

    /// The next event the application sent, with no time limit (callers add their own).
    func nextOutput() async throws -> SendEvent {
        try await output.pop()
    }
}

/// The `send` an application under test gets: checks HTTP event order, queues the event for the
/// test, and ends the input side the way a server does once the connection is over.
private final class ApplicationSend: Sendable {
    private let scope: Scope
    private let input: AsyncEventQueue<ReceiveEvent>
    private let output: AsyncEventQueue<SendEvent>
    private let response = Mutex(HTTPResponseState())

    init(scope: Scope, input: AsyncEventQueue<ReceiveEvent>, output: AsyncEventQueue<SendEvent>) {
        self.scope = scope
        self.input = input
        self.output = output
    }

    func callAsFunction(_ event: SendEvent) async throws {
        var ending: ReceiveEvent?
        switch scope {
        case .http:
            if try response.withLock({
                try $0.validate(event)
                return $0.isComplete
            }) {
                ending = .httpDisconnect
            }
        case .websocket:
            if case .websocketClose(let code, let reason) = event {
                ending = .websocketDisconnect(code: code, reason: reason)
            }
        case .lifespan:
            break
        }
        guard output.push(event) else { throw CommunicatorError.applicationFinished }
        if let ending { input.setTerminal(ending) }
    }
}
