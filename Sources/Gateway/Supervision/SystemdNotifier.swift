import Glibc

/// Tells systemd about the service's state (`sd_notify`): one datagram to `NOTIFY_SOCKET` per
/// message, as a `Type=notify` unit expects; no library needed.
///
/// ```text
/// READY=1        every worker accepts (after start, and after a reload)
/// RELOADING=1    a SIGHUP reload began
/// STOPPING=1     a shutdown began
/// ```
struct SystemdNotifier: Sendable {
    /// The socket's address: a path, or an abstract name written with a leading `@`.
    let address: String

    /// A notifier for `NOTIFY_SOCKET`'s value; `nil` when it is unset or empty (not under systemd).
    init?(socket: String?) {
        guard let socket, socket.hasPrefix("/") || socket.hasPrefix("@"), socket.utf8.count < 108 else { return nil }
        self.address = socket
    }

    /// The notifier of this process's environment.
    static var fromEnvironment: SystemdNotifier? {
        SystemdNotifier(socket: getenv("NOTIFY_SOCKET").map { String(cString: $0) })
    }

    /// Sends `message` (newline-separated `KEY=VALUE` assignments); whether it was sent.
    @discardableResult
    func send(_ message: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var target = sockaddr_un()
        target.sun_family = sa_family_t(AF_UNIX)
        var path = Array(address.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        withUnsafeMutableBytes(of: &target.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        // An abstract name's length counts exactly its bytes; a path's includes no terminator.
        let length = socklen_t(MemoryLayout.offset(of: \sockaddr_un.sun_path)! + path.count)
        let payload = Array(message.utf8)
        let sent = withUnsafePointer(to: &target) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
            }
        }
        return sent == payload.count
    }
}
