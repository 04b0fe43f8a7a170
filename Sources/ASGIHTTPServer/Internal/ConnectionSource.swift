import ASGI
import CGatewaySystem
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the server's connections come from: a listening socket, accepted on a thread of its
/// own and handed to SwiftNIO as connected sockets.
///
/// The server accepts itself, rather than through SwiftNIO's server channel, for two reasons:
/// - Close-on-exec. SwiftNIO accepts without `SOCK_CLOEXEC`, so a program a legacy handler runs
///   (sendmail, ImageMagick, a shell) would inherit every connection open at that moment, and a
///   connection the server closed would stay open, its client waiting, for as long as the program
///   runs. Here `accept4` marks each connection close-on-exec as it is made, and the socket the
///   server binds is close-on-exec from its creation.
/// - Sharing. A socket handed to the server may be shared with other processes (the `Gateway`
///   runner's workers share their supervisor's). SwiftNIO's server channel assumes it alone
///   accepts: when another process takes the connection first, its accept finds nothing, which a
///   debug build of SwiftNIO traps on. Blocking in `accept`, the kernel wakes one waiter per
///   connection, in turn, so the processes take connections round-robin rather than all waking
///   for each.
///
/// A socket the server bound itself (``Ownership/owned``) is woken by `shutdown` when the server
/// stops. A shared socket cannot be (that would stop the other processes too), so its accept wakes
/// every 200 ms (the socket's receive timeout) to see whether it should stop; and it is not accepted
/// from while the configuration's ``AcceptPause`` holds it (the other processes take the new
/// connections meanwhile). Each connection is tracked here, so that a graceful shutdown reaches it.
final class ConnectionSource: @unchecked Sendable {
    /// Whether the listening socket is the server's alone.
    enum Ownership {
        /// Bound by the server for itself.
        case owned
        /// Handed to the server; other processes may accept from it too.
        case shared
    }

    // Sendable: the descriptor, stream and continuation are set once in `init`; `stopping` is
    // atomic; `state` is behind a mutex.
    private let descriptor: Int32
    private let ownership: Ownership
    private let eventLoopGroup: any EventLoopGroup
    private let context: ServerContext
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let stopping = Atomic<Bool>(false)
    private let state = Mutex(State())
    /// The address it listens on, when known.
    let address: ASGIAddress?

    private struct State {
        var stopped = false
        /// Whether the accepting thread closed the listening socket (its number may then be
        /// another descriptor's: ``stop()`` must not shut it down).
        var socketClosed = false
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    /// Binds `host:port` and accepts from it.
    convenience init(host: String, port: Int, backlog: Int, eventLoopGroup: any EventLoopGroup, context: ServerContext) throws {
        let descriptor: Int32
        do {
            descriptor = try TCPListener.bind(host: host, port: port, backlog: backlog)
        } catch {
            throw HTTPServerError(.bindFailed, error.message(host: host, port: port))
        }
        try self.init(descriptor: descriptor, ownership: .owned, eventLoopGroup: eventLoopGroup, context: context)
    }

    /// Accepts from `descriptor`, a listening socket, which it closes when it stops.
    init(descriptor: Int32, ownership: Ownership, eventLoopGroup: any EventLoopGroup, context: ServerContext) throws {
        var acceptsConnections: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &acceptsConnections, &length) == 0, acceptsConnections == 1 else {
            if ownership == .owned { close(descriptor) }
            throw HTTPServerError(.bindFailed, "Descriptor \(descriptor) is not a listening socket.")
        }
        // Blocking; a shared socket with a receive timeout. Both are the socket's (every process
        // sharing it accepts the same way).
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        if ownership == .shared {
            var wakeUp = timeval(tv_sec: 0, tv_usec: 200_000)
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wakeUp, socklen_t(MemoryLayout<timeval>.size))
        }
        self.descriptor = descriptor
        self.ownership = ownership
        self.eventLoopGroup = eventLoopGroup
        self.context = context
        self.address = Self.boundAddress(descriptor)
        (stream, continuation) = AsyncStream<Int32>.makeStream()
        let started = AcceptThread.start { [self] in acceptLoop() }
        guard started else {
            continuation.finish()
            if ownership == .owned { close(descriptor) }
            throw HTTPServerError(.bindFailed, "Starting the thread that accepts on descriptor \(descriptor) failed.")
        }
    }

    /// Runs on the accepting thread until ``stop()``; then closes the socket.
    private func acceptLoop() {
        var resourceFailures = RateLimitedReport(interval: 10_000_000_000)
        while !stopping.load(ordering: .relaxed) {
            if ownership == .shared, let pause = context.configuration.acceptPause {
                pause.wait(stopping: { stopping.load(ordering: .relaxed) })
                if stopping.load(ordering: .relaxed) { break }
            }
            let accepted = cgateway_accept_cloexec(descriptor)
            if accepted >= 0 {
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
                let code = errno
                if let suppressed = resourceFailures.shouldLogNow() {
                    let also = suppressed > 0 ? " (\(suppressed) more such failures since the last report)" : ""
                    context.logger.error("Accepting a connection failed: \(TCPListener.describe(code)); retrying every 100 ms\(also).")
                }
                usleep(100_000)
            default:
                let code = errno
                if !stopping.exchange(true, ordering: .relaxed) {
                    context.logger.error("Accepting connections failed: \(TCPListener.describe(code)). The server accepts no more connections.")
                }
            }
        }
        // Closed before the stream ends, so that the address is free once the server returns.
        state.withLock { state in
            state.socketClosed = true
            close(descriptor)
        }
        continuation.finish()
    }

    private func stop() {
        guard !stopping.exchange(true, ordering: .relaxed), ownership == .owned else { return }
        // Wakes the blocked accept at once (it fails with EINVAL); new connections are refused.
        state.withLock { state in
            if !state.socketClosed { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
    }

    /// Calls `connection` for each accepted connection, with the event loop it runs on and a
    /// closure that finishes setting it up, until ``initiateShutdown()``.
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

    /// Stops accepting, and asks open connections to close once their requests are answered.
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

/// Starts the detached thread a ``ConnectionSource`` accepts on.
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
