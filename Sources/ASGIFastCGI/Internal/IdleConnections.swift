import CFastCGI
import Glibc
import Synchronization

/// What a waiting worker watches: the listening socket, the stop pipe and every idle kept
/// (`FCGI_KEEP_CONN`) connection, in one epoll set, so that an idle kept connection holds no
/// worker thread while the web server does not use it.
///
/// One worker at a time waits in it (the listener's accept lock); a kept connection is in it
/// from the end of one request until the web server sends something on it (or closes it), armed
/// once (`EPOLLONESHOT`): the worker that takes it serves it alone, and puts it back with
/// ``park(_:)`` after its request.
///
/// Unchecked `Sendable`: the epoll descriptor is used by one waiter at a time and by `park` (which
/// epoll allows from any thread); the parked descriptors only under `parked`.
final class IdleConnections: @unchecked Sendable {
    /// What one wait found.
    enum Event {
        /// The listening socket has a connection waiting.
        case listener
        /// The stop pipe was written: the server is stopping.
        case wake
        /// The web server sent something on (or closed) this idle kept connection, now taken.
        case kept(Int32)
        /// Nothing to do yet (a kept connection closed at stop, an interrupted wait): wait again.
        case none
    }

    private let epoll: Int32
    private let listener: Int32
    private let wake: Int32
    /// The idle kept connections, and whether parking is closed (the server stopped).
    private let parked = Mutex<(fds: Set<Int32>, closed: Bool)>(([], false))

    /// - Throws: ``FastCGIError`` `bindFailed` when epoll refuses.
    init(listener: Int32, wake: Int32) throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw FastCGIError(.bindFailed, "Creating the epoll set failed: \(Posix.describe(errno)).") }
        self.listener = listener
        self.wake = wake
        for fd in [listener, wake] {
            var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: fd))
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else {
                let code = errno
                Glibc.close(epoll)
                throw FastCGIError(.bindFailed, "Adding the listening socket to the epoll set failed: \(Posix.describe(code)).")
            }
        }
    }

    /// Idle kept connections now.
    var count: Int { parked.withLock { $0.fds.count } }

    /// Blocks until the listening socket, the stop pipe or an idle kept connection is ready.
    func wait() -> Event {
        var event = epoll_event()
        guard epoll_wait(epoll, &event, 1, -1) == 1 else { return .none }
        let fd = event.data.fd
        if fd == listener { return .listener }
        if fd == wake { return .wake }
        // Not there any more: closed at stop after this wait returned.
        return parked.withLock { $0.fds.remove(fd) } != nil ? .kept(fd) : .none
    }

    /// Keeps an idle kept connection until the web server uses it; false once the server stopped
    /// (or epoll refused it): the caller closes it then.
    func park(_ fd: Int32) -> Bool {
        parked.withLock { state in
            guard !state.closed else { return false }
            // Armed again where a previous wait took it (one-shot), else added.
            var event = epoll_event(events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue, data: epoll_data_t(fd: fd))
            if epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event) != 0 {
                guard errno == ENOENT, epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else { return false }
            }
            state.fds.insert(fd)
            return true
        }
    }

    /// Closes every idle kept connection and refuses more (the server stops: the web server sees
    /// them close while they are idle, and opens new ones elsewhere).
    func closeAll() {
        parked.withLock { state in
            state.closed = true
            for fd in state.fds { Glibc.close(fd) }
            state.fds.removeAll()
        }
    }

    /// Closes the idle connections and the epoll descriptor; call once no worker waits any more.
    func close() {
        closeAll()
        Glibc.close(epoll)
    }
}
