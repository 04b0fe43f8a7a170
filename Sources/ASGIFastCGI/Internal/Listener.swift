import ASGI
import CFastCGI
import Glibc
import Logging
import Synchronization

/// The listening socket: bound (or inherited), waited on by the workers one at a time together
/// with the idle kept connections (``IdleConnections``), and stopped with a wake-up every waiting
/// worker sees.
final class Listener: @unchecked Sendable {
    /// What a waiting worker gets to serve.
    enum Connection: Equatable {
        /// A connection just accepted.
        case accepted(Int32)
        /// An idle kept connection the web server sent something on (or closed).
        case kept(Int32)
    }

    let fd: Int32
    let bind: FastCGIConfiguration.Bind
    let backlog: Int
    private let logger: Logger
    private let allowedClients: [String]
    /// The inode of the unix socket file we created, to remove only our own on stop.
    private let socketFileInode: ino_t?
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopping = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    /// Serialises waiting and accepting. A plain pthread mutex, not `Synchronization.Mutex`: waiters
    /// here wait for a long time (the holder sits in `epoll_wait`), and `Mutex` spins before it sleeps.
    private let acceptLock: UnsafeMutablePointer<pthread_mutex_t>
    /// The listening socket, the stop pipe and the idle kept connections.
    private let idle: IdleConnections
    private let failureMessage = Mutex<String?>(nil)
    /// Out-of-descriptors and out-of-memory accept failures, for a rate-limited log.
    private let resourceFailures = Mutex(RateLimitedReport(interval: 10_000_000_000))

    /// Whether accepted connections inherit the listening socket's `SO_RCVTIMEO` (TCP does, unix
    /// sockets do not), so the workers need not set it on each.
    let acceptedInheritReceiveTimeout: Bool

    /// Binds (or adopts) the socket and starts listening.
    /// - Throws: ``FastCGIError`` `bindFailed`, `addressInUse` or `notAListeningSocket`.
    init(
        bind: FastCGIConfiguration.Bind,
        backlog: Int,
        allowedClients: [String],
        readTimeout: Duration,
        socketGroup: String? = nil,
        logger: Logger
    ) throws {
        self.bind = bind
        self.backlog = backlog
        self.logger = logger
        self.allowedClients = allowedClients
        var inode: ino_t? = nil
        switch bind {
        case .unix(let path, let mode):
            let group = try socketGroup.map(UnixSocketPermissions.groupID)
            (fd, inode) = try Self.bindUnix(path: path, mode: mode, group: group, backlog: backlog)
            if let report = UnixSocketPermissions.report(path: path, groupGiven: group != nil) {
                if report.isWarning { logger.warning("\(report.line)") } else { logger.info("\(report.line)") }
            }
        case .tcp(let host, let port):
            fd = try Self.bindTCP(host: host, port: port, backlog: backlog)
        case .inherited:
            fd = try Self.adoptInherited()
        }
        socketFileInode = inode
        var pipeEnds: [Int32] = [0, 0]
        guard pipe2(&pipeEnds, O_CLOEXEC | O_NONBLOCK) == 0 else {
            let code = errno
            if case .inherited = bind {} else { Glibc.close(fd) }
            throw FastCGIError(.bindFailed, "Creating the wake-up pipe failed: \(Posix.describe(code)).")
        }
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
        // Workers take turns (the accept lock) waiting in epoll and accept without blocking; an
        // inherited socket is shared with its owner, so never shut down at stop.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        do {
            idle = try IdleConnections(listener: fd, wake: wakeRead)
        } catch {
            if case .inherited = bind {} else { Glibc.close(fd) }
            Glibc.close(wakeRead)
            Glibc.close(wakeWrite)
            throw error
        }
        acceptLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(acceptLock, nil)
        if case .tcp = bind {
            Posix.setReceiveTimeout(fd, readTimeout)
            acceptedInheritReceiveTimeout = true
        } else {
            acceptedInheritReceiveTimeout = false
        }
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Why accepting failed for good, if it did.
    var failure: String? { failureMessage.withLock { $0 } }

    // MARK: Accepting

    /// The next connection to serve (blocking): a new one, or an idle kept one the web server
    /// sent something on; `nil` once the server stops (after the connections queued then, see
    /// ``stop(drainQueued:)``).
    func next() -> Connection? {
        let connection = nextConnection()
        if connection == nil && isStopping { finishDraining() }
        return connection
    }

    /// Idle kept connections now.
    var idleKeptConnections: Int { idle.count }

    /// Keeps a connection whose request ended until the web server sends the next one on it; no
    /// worker waits on it meanwhile. False once the server stops: the caller closes it then.
    func park(_ connection: Int32) -> Bool {
        !isStopping && idle.park(connection)
    }

    private enum AcceptResult {
        case connection(Int32)
        /// Nothing queued.
        case empty
        /// Try again (refused client, transient failure).
        case retry
        /// Accepting failed for good (the listener stopped).
        case failed
    }

    private func nextConnection() -> Connection? {
        pthread_mutex_lock(acceptLock)
        defer { pthread_mutex_unlock(acceptLock) }
        while true {
            if isStopping {
                // Only the connections queued at stop, no more kept ones.
                guard takeDrainTicket() else { return nil }
                switch acceptNow() {
                case .connection(let connection): return .accepted(connection)
                case .retry: continue
                case .empty, .failed: return nil
                }
            }
            switch idle.wait() {
            case .kept(let connection):
                return .kept(connection)
            case .listener:
                switch acceptNow() {
                case .connection(let connection): return .accepted(connection)
                case .empty, .retry: continue
                case .failed: return nil
                }
            case .wake, .none:
                continue
            }
        }
    }

    /// One `accept4` on the non-blocking listening socket.
    private func acceptNow() -> AcceptResult {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let connection = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept4(fd, $0, &length, Int32(SOCK_CLOEXEC.rawValue)) }
        }
        if connection >= 0 {
            if address.ss_family == sa_family_t(AF_INET) || address.ss_family == sa_family_t(AF_INET6) {
                var on: Int32 = 1
                _ = setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                if !allowedClients.isEmpty {
                    let peer = Self.numericHost(&address, length)
                    guard allowedClients.contains(peer) else {
                        logger.warning("Refused a FastCGI connection from \(peer): not in allowedClients.")
                        Glibc.close(connection)
                        return .retry
                    }
                }
            }
            return .connection(connection)
        }
        let code = errno
        switch code {
        case EAGAIN, EWOULDBLOCK:
            return .empty
        case EINTR, ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
            return .retry
        case EMFILE, ENFILE, ENOBUFS, ENOMEM:
            // Retried every 100 ms while the connection waits: logged once, then at most every
            // 10 s with how many failures the log left out.
            let now = Posix.monotonicNanos()
            if let suppressed = resourceFailures.withLock({ $0.shouldLog(at: now) }) {
                let also = suppressed > 0 ? " (\(suppressed) more such failures since the last report)" : ""
                logger.error("Accepting a FastCGI connection failed: \(Posix.describe(code)); retrying every 100 ms\(also).")
            }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            Posix.poll(&fds, timeoutMilliseconds: 100)
            return .retry
        default:
            if isStopping { return .failed }
            let message = "Accepting FastCGI connections failed: \(Posix.describe(code))."
            logger.critical("\(message)")
            failureMessage.withLock { $0 = message }
            stop(drainQueued: false)
            return .failed
        }
    }

    // MARK: Stopping

    /// Connections still to accept after the server stopped (see ``stop(drainQueued:)``).
    private let drainBudget = Atomic<Int>(0)

    /// Whether one more connection may be accepted after the server stopped.
    private func takeDrainTicket() -> Bool {
        var budget = drainBudget.load(ordering: .relaxed)
        while budget > 0 {
            let (exchanged, current) = drainBudget.compareExchange(expected: budget, desired: budget - 1, ordering: .relaxed)
            if exchanged { return true }
            budget = current
        }
        return false
    }

    /// Stops accepting: wakes every waiting worker, closes the idle kept connections, refuses new
    /// connections (not for an inherited socket, which its owner may hand to the next instance)
    /// and removes our unix socket file.
    ///
    /// The connections already queued when it stops are still accepted and served, at most as
    /// many as the queue held then: the web server sent their requests and waits for them, and
    /// they would be reset when the socket closes. On an inherited socket (a supervised worker's)
    /// always (the supervisor removes the socket file first, so no more arrive; on a reload, the
    /// next generation's workers accept the rest); on our own socket when `drainQueued` (a graceful
    /// stop): the unix socket file goes first, and once the queue is drained (or the allowance
    /// spent) the first worker to find it so shuts the socket down.
    func stop(drainQueued: Bool) {
        let inherited: Bool
        if case .inherited = bind { inherited = true } else { inherited = false }
        var budget = 0
        if !isStopping, inherited || drainQueued {
            budget = queueDepth() ?? 0
            drainBudget.store(budget, ordering: .relaxed)
        }
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        // Idle: no request of theirs is lost (a kept connection that takes one from now on is
        // closed by its worker as well).
        idle.closeAll()
        if case .unix(let path, _) = bind {
            var status = stat()
            if let inode = socketFileInode, lstat(path, &status) == 0, status.st_ino == inode {
                unlink(path)
            }
        }
        guard !inherited else { return }
        // Waiting workers take the queued connections as usual; the first to find the queue
        // empty shuts the socket down.
        if budget == 0 { finishDraining() }
    }

    /// Once the queued connections are taken: shuts our own socket down, which refuses new
    /// connections (an inherited socket is left alone).
    private func finishDraining() {
        if case .inherited = bind { return }
        guard !drained.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Set once our own socket has been shut down at stop.
    private let drained = Atomic<Bool>(false)

    /// Closes the descriptors; call once no worker uses the listener any more.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        idle.close()
        Glibc.close(fd)
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    // MARK: Queue depth

    /// Connections waiting in the listen backlog now, where Linux can tell (TCP: `TCP_INFO`; unix
    /// sockets: `sock_diag`, which PHP-FPM lacks).
    func queueDepth() -> Int? {
        if isStopping { return 0 }
        var domain: Int32 = 0
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        domain = Int32(address.ss_family)
        if domain == AF_INET || domain == AF_INET6 {
            var info = tcp_info()
            var size = socklen_t(MemoryLayout<tcp_info>.size)
            guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &size) == 0 else { return nil }
            return Int(info.tcpi_unacked)
        }
        if domain == AF_UNIX {
            var status = stat()
            guard fstat(fd, &status) == 0 else { return nil }
            return UnixSocketDiagnostics.receiveQueue(inode: UInt32(truncatingIfNeeded: status.st_ino))
        }
        return nil
    }

    // MARK: Binding

    static func bindUnix(path: String, mode: UInt16, group: gid_t?, backlog: Int) throws -> (Int32, ino_t) {
        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard existing.st_mode & S_IFMT == S_IFSOCK else {
                throw FastCGIError(.bindFailed, "\(path) exists and is not a socket; refusing to replace it.")
            }
            if try isLive(path: path) {
                throw FastCGIError(.addressInUse, "Another server is listening on \(path).")
            }
            // Stale: its server is gone. The rename below replaces it atomically.
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FastCGIError(.bindFailed, "socket() failed: \(Posix.describe(errno)).") }
        // Bind under a temporary name, set the mode, then rename into place: the socket never
        // exists at `path` with other permissions, and a stale file is replaced atomically.
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let base = path.split(separator: "/").last.map(String.init) ?? path
        var temporary = "\(directory)/.\(base).\(getpid()).tmp"
        if temporary.utf8.count >= 108 { temporary = path }
        if temporary != path { unlink(temporary) } else if lstat(path, &existing) == 0 { unlink(path) }
        do {
            try withUnixAddress(temporary) { address, length in
                guard Glibc.bind(fd, address, length) == 0 else {
                    throw FastCGIError(.bindFailed, "Binding \(path) failed: \(Posix.describe(errno)).")
                }
            }
            // The group before the mode, both before the rename: a socket whose mode lets its
            // group in never exists at `path` with a group the operator did not choose.
            if let group, chown(temporary, uid_t.max, group) != 0 {
                let code = errno
                let hint = code == EPERM ? " (the server must run as root or be a member of that group)" : ""
                throw FastCGIError(
                    .bindFailed,
                    "Setting group \(UnixSocketPermissions.groupName(group)) on \(path) failed: \(Posix.describe(code))\(hint)."
                )
            }
            guard chmod(temporary, mode_t(mode)) == 0 else {
                throw FastCGIError(.bindFailed, "Setting mode \(String(mode, radix: 8)) on \(path) failed: \(Posix.describe(errno)).")
            }
            guard listen(fd, Int32(clamping: backlog)) == 0 else {
                throw FastCGIError(.bindFailed, "listen() on \(path) failed: \(Posix.describe(errno)).")
            }
            if temporary != path {
                guard rename(temporary, path) == 0 else {
                    throw FastCGIError(.bindFailed, "Moving the socket into place at \(path) failed: \(Posix.describe(errno)).")
                }
            }
            var bound = stat()
            guard lstat(path, &bound) == 0 else {
                throw FastCGIError(.bindFailed, "The socket at \(path) vanished: \(Posix.describe(errno)).")
            }
            return (fd, bound.st_ino)
        } catch {
            if temporary != path { unlink(temporary) }
            Glibc.close(fd)
            throw error
        }
    }

    /// Whether a server answers on the unix socket at `path`.
    private static func isLive(path: String) throws -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw FastCGIError(.bindFailed, "socket() failed: \(Posix.describe(errno)).") }
        defer { Glibc.close(probe) }
        return try withUnixAddress(path) { address, length in
            if connect(probe, address, length) == 0 { return true }
            let code = errno
            switch code {
            case ECONNREFUSED, ENOENT: return false
            default: throw FastCGIError(.bindFailed, "Checking whether \(path) is in use failed: \(Posix.describe(code)).")
            }
        }
    }

    private static func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw FastCGIError(.invalidConfiguration, "The unix socket path is too long (\(bytes.count) bytes, at most \(capacity - 1)): \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    static func bindTCP(host: String, port: Int, backlog: Int) throws -> Int32 {
        do {
            return try TCPListener.bind(host: host, port: port, backlog: backlog)
        } catch {
            throw FastCGIError(error == .addressInUse ? .addressInUse : .bindFailed, error.message(host: host, port: port))
        }
    }

    static func adoptInherited() throws -> Int32 {
        let fd: Int32 = 0  // FCGI_LISTENSOCK_FILENO
        guard Posix.socketOption(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1,
            Posix.socketOption(fd, SOL_SOCKET, SO_TYPE) == Int32(SOCK_STREAM.rawValue)
        else {
            throw FastCGIError(
                .notAListeningSocket,
                "File descriptor 0 is not a listening stream socket: start the server under spawn-fcgi, or from a systemd socket unit with StandardInput=socket."
            )
        }
        return fd
    }

    /// Where the socket listens, for logs: the configured address, or for an inherited socket
    /// what it is bound to (a supervisor's `unix:/run/app.sock`, not "stdin").
    var description: String {
        guard case .inherited = bind else { return "\(bind)" }
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard named else { return "\(bind)" }
        switch Int32(address.ss_family) {
        case AF_UNIX:
            let path = withUnsafeBytes(of: &address) { raw -> String in
                let start = MemoryLayout<sa_family_t>.size
                let bytes = raw[start..<min(raw.count, Int(length))].prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
            return "unix:\(Self.publicPath(bound: path)) (inherited)"
        case AF_INET, AF_INET6:
            let host = Self.numericHost(&address, length)
            let port = withUnsafeBytes(of: &address) { raw in UInt16(raw[2]) << 8 | UInt16(raw[3]) }
            return (address.ss_family == sa_family_t(AF_INET6) ? "[\(host)]" : host) + ":\(port) (inherited)"
        default:
            return "\(bind)"
        }
    }

    /// The path a unix socket bound by ``bindUnix(path:mode:group:backlog:)`` is reached at: it
    /// binds under `DIRECTORY/.NAME.PID.tmp` and renames the file to `DIRECTORY/NAME`, and the
    /// socket keeps reporting the name it was bound with.
    static func publicPath(bound path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        let directory = path[..<slash]
        var name = path[path.index(after: slash)...]
        guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return path }
        name = name.dropFirst().dropLast(4)
        guard let dot = name.lastIndex(of: "."), !name[name.index(after: dot)...].isEmpty,
            name[name.index(after: dot)...].allSatisfy(\.isNumber)
        else { return path }
        return "\(directory)/\(name[..<dot])"
    }

    private static func numericHost(_ address: inout sockaddr_storage, _ length: socklen_t) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
            }
        }
        guard result == 0 else { return "?" }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
