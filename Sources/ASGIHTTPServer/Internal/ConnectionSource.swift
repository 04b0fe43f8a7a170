import ASGI
import NIOCore
import NIOExtras
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the server's connections come from: a socket it binds (SwiftNIO accepts), or a
/// listening socket it is handed and may share with other processes.
protocol ConnectionSource: Sendable {
    /// The address it listens on, when known.
    var address: ASGIAddress? { get }

    /// Calls `connection` for each accepted connection, with the event loop it runs on and a
    /// closure that finishes setting it up, until ``initiateShutdown()``.
    func acceptConnections(
        _ connection: (any EventLoop, @escaping @Sendable () async throws -> AcceptedConnection) -> Void
    ) async throws

    /// Stops accepting, and asks open connections to close once their requests are answered.
    func initiateShutdown()
}

/// A socket the server binds itself: SwiftNIO's server channel accepts, and NIOExtras'
/// quiescing helper tells each connection when a graceful shutdown begins.
struct BoundConnectionSource: ConnectionSource {
    private let quiescing: ServerQuiescingHelper
    private let serverChannel: NIOAsyncChannel<AcceptedConnection, Never>

    init(host: String, port: Int, backlog: Int, eventLoopGroup: any EventLoopGroup, context: ServerContext) async throws {
        let quiescing = ServerQuiescingHelper(group: eventLoopGroup)
        self.quiescing = quiescing
        serverChannel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: Int32(clamping: backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                context.setUpChild(channel)
            }
    }

    var address: ASGIAddress? {
        serverChannel.channel.localAddress.flatMap(ASGIAddress.init(_:))
    }

    func acceptConnections(
        _ connection: (any EventLoop, @escaping @Sendable () async throws -> AcceptedConnection) -> Void
    ) async throws {
        try await serverChannel.executeThenClose { inbound in
            for try await accepted in inbound {
                connection(accepted.channel.eventLoop, { accepted })
            }
        }
    }

    func initiateShutdown() {
        quiescing.initiateShutdown(promise: nil)
    }
}

/// A listening socket handed to the server, which other processes may accept from too (the
/// `Gateway` runner's workers share their supervisor's).
///
/// SwiftNIO's server channel assumes it alone accepts from its socket: when another process takes
/// the connection first, its accept finds nothing, which a debug build of SwiftNIO traps on. So a
/// thread of its own accepts instead, blocking in `accept`: the kernel wakes one waiter per
/// connection, in turn, so the processes sharing the socket take connections round-robin rather
/// than all waking for each. It wakes every 200 ms (the socket's receive timeout) to see whether
/// it should stop. Each connection is handed to SwiftNIO as a connected socket, and tracked here,
/// so that a graceful shutdown reaches it.
final class SharedConnectionSource: ConnectionSource, @unchecked Sendable {
    // Sendable: the descriptor, stream and continuation are set once in `init`; `stopping` is
    // atomic; `state` is behind a mutex.
    private let descriptor: Int32
    private let eventLoopGroup: any EventLoopGroup
    private let context: ServerContext
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let stopping = Atomic<Bool>(false)
    private let state = Mutex(State())
    let address: ASGIAddress?

    private struct State {
        var stopped = false
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    init(descriptor: Int32, eventLoopGroup: any EventLoopGroup, context: ServerContext) throws {
        var acceptsConnections: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &acceptsConnections, &length) == 0, acceptsConnections == 1 else {
            throw HTTPServerError(.bindFailed, "Descriptor \(descriptor) is not a listening socket.")
        }
        // Blocking, with a receive timeout: both are the socket's (every process sharing it
        // accepts the same way).
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        var wakeUp = timeval(tv_sec: 0, tv_usec: 200_000)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wakeUp, socklen_t(MemoryLayout<timeval>.size))
        self.descriptor = descriptor
        self.eventLoopGroup = eventLoopGroup
        self.context = context
        self.address = Self.boundAddress(descriptor)
        (stream, continuation) = AsyncStream<Int32>.makeStream()
        let started = AcceptThread.start { [self] in acceptLoop() }
        guard started else {
            continuation.finish()
            throw HTTPServerError(.bindFailed, "Starting the thread that accepts on descriptor \(descriptor) failed.")
        }
    }

    /// Runs on the accepting thread until ``stop()``; then closes the socket.
    private func acceptLoop() {
        while !stopping.load(ordering: .relaxed) {
            let accepted = accept(descriptor, nil, nil)
            if accepted >= 0 {
                _ = fcntl(accepted, F_SETFD, FD_CLOEXEC)
                // Accepted as the shutdown began: still served (told at once to close after its
                // request), since the client already counts on it.
                if case .terminated = continuation.yield(accepted) { close(accepted) }
                continue
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED, EPROTO:
                continue  // the periodic wake-up, or a connection gone before it was accepted
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // Out of descriptors or memory: leave the connection queued (for another
                // process, or for a retry here shortly) rather than spinning on it.
                usleep(100_000)
            default:
                stopping.store(true, ordering: .relaxed)
            }
        }
        continuation.finish()
        close(descriptor)
    }

    private func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    func acceptConnections(
        _ connection: (any EventLoop, @escaping @Sendable () async throws -> AcceptedConnection) -> Void
    ) async throws {
        // Cancelled rather than shut down: stop accepting all the same.
        defer { stop() }
        for await fd in stream {
            let loop = eventLoopGroup.next()
            connection(
                loop,
                { [self] in
                    let accepted: AcceptedConnection
                    do {
                        accepted = try await ClientBootstrap(group: loop)
                            .channelOption(.socketOption(.tcp_nodelay), value: 1)
                            .withConnectedSocket(fd) { [context] channel in context.setUpChild(channel) }
                    } catch {
                        close(fd)
                        throw error
                    }
                    track(accepted.channel)
                    return accepted
                }
            )
        }
    }

    func initiateShutdown() {
        let channels = state.withLock { state -> [any Channel] in
            guard !state.stopped else { return [] }
            state.stopped = true
            return Array(state.channels.values)
        }
        stop()
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    private func track(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let stopped = state.withLock { state -> Bool in
            if !state.stopped { state.channels[key] = channel }
            return state.stopped
        }
        if stopped {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            return
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.channels.removeValue(forKey: key) }
        }
    }

    private static func boundAddress(_ fd: Int32) -> ASGIAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        let address: SocketAddress?
        switch Int32(storage.ss_family) {
        case AF_INET:
            address = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
            }
        case AF_INET6:
            address = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
            }
        default:
            address = nil
        }
        return address.flatMap(ASGIAddress.init(_:))
    }
}

/// Starts the detached thread a ``SharedConnectionSource`` accepts on.
private enum AcceptThread {
    private final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let start = Unmanaged.passRetained(Start(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            &attributes,
            { argument in
                Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue().body()
                return nil
            },
            start
        )
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            return false
        }
        return true
    }
}
