import ASGITesting
import AsyncBridge
import InMemoryLogging
import Logging
import Synchronization
import TestSupport
import Testing

@testable import ASGI

/// An in-memory datagram network standing in for asgiref's loopback UDP sockets.
final class MemoryNetwork: Sendable {
    /// A datagram for the server.
    struct Datagram: Sendable {
        let from: String
        let text: String
    }

    let toServer: AsyncStream<Datagram>
    private let toServerContinuation: AsyncStream<Datagram>.Continuation
    private let inboxes = Mutex<[String: Mailbox<String>]>([:])

    init() {
        (toServer, toServerContinuation) = AsyncStream.makeStream()
    }

    /// Sends `text` to the server from `address`.
    func send(_ text: String, from address: String) {
        toServerContinuation.yield(Datagram(from: address, text: text))
    }

    /// Closes the server's side: its `handle()` returns.
    func shutDown() {
        toServerContinuation.finish()
    }

    /// What arrives at `address`.
    func inbox(_ address: String) -> Mailbox<String> {
        inboxes.withLock { inboxes in
            if let inbox = inboxes[address] { return inbox }
            let inbox = Mailbox<String>()
            inboxes[address] = inbox
            return inbox
        }
    }
}

/// asgiref's test server: "Register NAME" creates (or reuses) NAME's instance and queues "Welcome";
/// "To NAME MESSAGE" queues MESSAGE for NAME's instance. Instances send to their scope's client.
final class ChatServer: StatelessServer, @unchecked Sendable {
    let network: MemoryNetwork

    init(application: any ASGIApplication, maxApplications: Int, network: MemoryNetwork) {
        self.network = network
        super.init(application: application, maxApplications: maxApplications)
    }

    override func handle() async throws {
        for await datagram in network.toServer {
            let scope = Scope.websocket(WebSocketScope(client: ASGIAddress(host: datagram.from, port: nil)))
            let words = datagram.text.split(separator: " ", maxSplits: 2).map(String.init)
            switch (words.first, words.count) {
            case ("Register", 2):
                getOrCreateApplicationInstance(scopeID: words[1], scope: scope).send(.websocketReceive(text: "Welcome"))
            case ("To", 3):
                getOrCreateApplicationInstance(scopeID: words[1], scope: scope).send(.websocketReceive(text: words[2]))
            default:
                continue
            }
        }
    }

    override func applicationSend(scope: Scope, message: SendEvent) async throws {
        guard case .websocket(let socket) = scope, let address = socket.client?.host,
            case .websocketSend(_, let text?) = message
        else { return }
        network.inbox(address).put(text)
    }
}

/// A server whose `handle()` waits until `stop()`, and that records what the checker reports.
final class RecordingServer: StatelessServer, @unchecked Sendable {
    let exceptions = Mailbox<String>()
    private let stopSignal = AsyncEventQueue<Void>()

    override func handle() async throws {
        try await stopSignal.pop()
    }

    override func applicationSend(scope: Scope, message: SendEvent) async throws {}

    override func applicationException(_ error: any Error, scopeID: String, scope: Scope) async {
        exceptions.put("\(scopeID): \(error)")
        await super.applicationException(error, scopeID: scopeID, scope: scope)
    }

    func stop() { stopSignal.push(()) }
}

/// A server whose `deleteOldestApplicationInstance()` override deletes nothing.
final class StubbornServer: StatelessServer, @unchecked Sendable {
    let calls = Mutex(0)
    override func deleteOldestApplicationInstance() { calls.withLock { $0 += 1 } }
}

/// Ports of asgiref's tests/test_server.py, plus the fixes for its known bugs (S1, S2, S3).
@Suite("StatelessServer")
struct StatelessServerTests {
    /// asgiref's test application: sends back whatever it receives.
    static let echo = ASGIApp { _, receive, send in
        while true {
            if case .websocketReceive(let bytes, let text) = try await receive() {
                try await send(.websocketSend(bytes: bytes, text: text))
            }
        }
    }

    static func scope(_ path: String = "/") -> Scope {
        .websocket(WebSocketScope(path: path))
    }

    /// Ports `test_stateless_server`: registering creates (or reuses) the instance for a name and
    /// it answers its own client; "To client2 Hello" from client1 reaches client2's instance,
    /// which answers client2. When `handle()` returns, `run()` returns and no instance is left.
    @Test func routesMessagesByScopeID() async throws {
        let network = MemoryNetwork()
        let server = ChatServer(application: Self.echo, maxApplications: 10, network: network)
        let running = Task { try await server.run() }

        network.send("Register client1", from: "address1")
        #expect(try await network.inbox("address1").next() == "Welcome")
        network.send("Register client2", from: "address2")
        #expect(try await network.inbox("address2").next() == "Welcome")
        network.send("To client2 Hello", from: "address1")
        #expect(try await network.inbox("address2").next() == "Hello")
        #expect(server.applicationInstanceIDs == ["client1", "client2"])

        network.shutDown()
        try await running.value
        #expect(server.applicationInstanceIDs.isEmpty)
    }

    /// Ports `test_stateless_server_run`: `run()` called from a plain thread (through
    /// `AsyncToSync`) calls `handle()` and returns when it does.
    @Test func runFromAThreadReturnsWhenHandleReturns() async throws {
        let network = MemoryNetwork()
        let server = ChatServer(application: Self.echo, maxApplications: 10, network: network)
        network.send("Register client1", from: "address1")
        network.shutDown()
        try await SyncToAsync.run(threadSensitive: false) {
            try AsyncToSync.run { try await server.run() }
        }
        #expect(try await network.inbox("address1").next() == "Welcome")
    }

    /// The base class says what a subclass has to provide.
    @Test func handleMustBeOverridden() async throws {
        let server = StatelessServer(application: Self.echo)
        await #expect(throws: StatelessServerError.handleNotImplemented) { try await server.run() }
    }

    /// Ports `test_server_delete_instance` (max 10, 20 names, each still welcomed) and adds the
    /// count assertion it lacks (S1: asgiref keeps 11).
    @Test func deletesOldInstancesBeyondTheMaximum() async throws {
        let network = MemoryNetwork()
        let server = ChatServer(application: Self.echo, maxApplications: 10, network: network)
        let running = Task { try await server.run() }
        for index in 0..<20 {
            network.send("Register client\(index)", from: "address\(index)")
            #expect(try await network.inbox("address\(index)").next() == "Welcome")
            #expect(server.applicationInstanceIDs.count == min(index + 1, 10))
        }
        #expect(server.applicationInstanceIDs == (10..<20).map { "client\($0)" })
        network.shutDown()
        try await running.value
    }

    /// S1 and S3: never more than `maxApplications`; the least recently *used* goes first.
    @Test func evictsLeastRecentlyUsedWithinTheMaximum() {
        let server = StatelessServer(application: Self.echo, maxApplications: 3)
        for id in ["a", "b", "c"] { server.getOrCreateApplicationInstance(scopeID: id, scope: Self.scope()) }
        server.getOrCreateApplicationInstance(scopeID: "a", scope: Self.scope())  // a is used again
        server.getOrCreateApplicationInstance(scopeID: "d", scope: Self.scope())
        #expect(server.applicationInstanceIDs == ["c", "a", "d"])
        for index in 0..<10 {
            server.getOrCreateApplicationInstance(scopeID: "n\(index)", scope: Self.scope())
            #expect(server.applicationInstanceIDs.count <= 3)
        }
        #expect(server.applicationInstanceIDs == ["n7", "n8", "n9"])
        server.deleteOldestApplicationInstance()
        #expect(server.deleteApplicationInstance(scopeID: "n9"))
        #expect(!server.deleteApplicationInstance(scopeID: "n9"))
        #expect(server.applicationInstanceIDs == ["n8"])
        #expect(server.deleteApplicationInstance(scopeID: "n8"))
    }

    /// S1 even when an override of `deleteOldestApplicationInstance()` deletes nothing.
    @Test func maximumHoldsWhenTheEvictionOverrideDoesNothing() {
        let server = StubbornServer(application: Self.echo, maxApplications: 2)
        for index in 0..<5 {
            server.getOrCreateApplicationInstance(scopeID: "n\(index)", scope: Self.scope())
        }
        #expect(server.applicationInstanceIDs == ["n3", "n4"])
        #expect(server.calls.withLock { $0 } == 3)
        for id in server.applicationInstanceIDs { server.deleteApplicationInstance(scopeID: id) }
    }

    /// S2: an instance that ends cancelled, one that throws and one that is deleted do not stop the
    /// checker; only the failure is reported, and a later failure is still reported.
    @Test func failedAndCancelledInstancesDoNotStopTheChecker() async throws {
        let logs = InMemoryLogHandler()
        let application = ASGIApp { scope, receive, _ in
            guard case .websocket(let socket) = scope else { return }
            switch socket.path {
            case "/cancelled": throw CancellationError()
            case "/failing": throw TestError("failing")
            default: while true { _ = try await receive() }
            }
        }
        let server = RecordingServer(
            application: application,
            logger: memoryLogger(logs, label: "test")
        )
        let running = Task { try await server.run() }

        server.getOrCreateApplicationInstance(scopeID: "cancelled", scope: Self.scope("/cancelled"))
        try await logs.waitForEntry("cancelled cancelled") {
            "\($0.message)" == "Application instance cancelled" && $0.metadata["scope_id"] == "cancelled"
        }
        server.getOrCreateApplicationInstance(scopeID: "failing", scope: Self.scope("/failing"))
        #expect(try await server.exceptions.next() == "failing: TestError(failing)")
        server.getOrCreateApplicationInstance(scopeID: "deleted", scope: Self.scope("/waits"))
        #expect(server.deleteApplicationInstance(scopeID: "deleted"))
        try await logs.waitForEntry("deleted cancelled") {
            "\($0.message)" == "Application instance cancelled" && $0.metadata["scope_id"] == "deleted"
        }

        server.getOrCreateApplicationInstance(scopeID: "later", scope: Self.scope("/failing"))
        #expect(try await server.exceptions.next() == "later: TestError(failing)")
        #expect(server.applicationInstanceIDs.isEmpty)

        server.stop()
        try await running.value
    }

    /// The LRU table keeps the order of use through touches, removals and evictions.
    @Test func lruTableKeepsOrderOfUse() {
        var table = LRUTable<String, Int>()
        table.insert("a", 1)
        table.insert("b", 2)
        table.insert("c", 3)
        #expect(table.touch("a") == 1)
        #expect(table.keys == ["b", "c", "a"])
        #expect(table.remove("c") == 3)
        #expect(table.removeOldest()! == ("b", 2))
        table.insert("d", 4)
        #expect(table.keys == ["a", "d"] && table.count == 2 && table["d"] == 4)
        #expect(table.removeAll() == [1, 4])
        #expect(table.keys.isEmpty && table.removeOldest() == nil)
    }
}
