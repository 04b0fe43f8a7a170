import CFastCGI
import Glibc

/// Reads a listening unix socket's accept-queue length from the kernel (`NETLINK_SOCK_DIAG`,
/// `UNIX_DIAG_RQLEN`): the number PHP-FPM's status page shows as 0 on unix sockets.
enum UnixSocketDiagnostics {
    private static let netlinkSockDiag: Int32 = 4  // NETLINK_SOCK_DIAG
    private static let sockDiagByFamily: UInt16 = 20  // SOCK_DIAG_BY_FAMILY
    private static let requestFlag: UInt16 = 1  // NLM_F_REQUEST
    private static let showReceiveQueue: UInt32 = 0x10  // UDIAG_SHOW_RQLEN
    private static let attributeReceiveQueue: UInt16 = 4  // UNIX_DIAG_RQLEN
    private static let messageError: UInt16 = 2  // NLMSG_ERROR

    /// The number of connections queued on the listening unix socket with inode `inode`, or `nil`
    /// when the kernel does not say (no `unix_diag` support).
    static func receiveQueue(inode: UInt32) -> Int? {
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkSockDiag)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        // nlmsghdr (16 bytes) + unix_diag_req (24 bytes).
        var request = [UInt8](repeating: 0, count: 40)
        func put32(_ value: UInt32, at offset: Int) {
            for index in 0..<4 { request[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
        }
        func put16(_ value: UInt16, at offset: Int) {
            request[offset] = UInt8(truncatingIfNeeded: value)
            request[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
        }
        put32(40, at: 0)  // nlmsg_len
        put16(sockDiagByFamily, at: 4)  // nlmsg_type
        put16(requestFlag, at: 6)  // nlmsg_flags
        put32(1, at: 8)  // nlmsg_seq
        request[16] = UInt8(AF_UNIX)  // sdiag_family
        put32(UInt32(1 << 10), at: 20)  // udiag_states: TCP_LISTEN
        put32(inode, at: 24)  // udiag_ino
        put32(showReceiveQueue, at: 28)  // udiag_show
        put32(UInt32.max, at: 32)  // udiag_cookie: no cookie
        put32(UInt32.max, at: 36)

        // sockaddr_nl: family, pad, pid 0 (the kernel), groups 0.
        var kernel = sockaddr_storage()
        kernel.ss_family = sa_family_t(AF_NETLINK)
        let sent = request.withUnsafeBytes { bytes in
            withUnsafePointer(to: &kernel) { address in
                address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, 12)
                }
            }
        }
        guard sent == request.count else { return nil }
        var reply = [UInt8](repeating: 0, count: 1024)
        let received = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard received >= 32 else { return nil }
        func get32(_ offset: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(reply[offset + $1]) << (8 * UInt32($1)) }
        }
        func get16(_ offset: Int) -> UInt16 { UInt16(reply[offset]) | UInt16(reply[offset + 1]) << 8 }
        guard get16(4) == sockDiagByFamily else { return nil }  // NLMSG_ERROR and others: unknown
        let messageLength = min(Int(get32(0)), received)
        // unix_diag_msg is 16 bytes after the 16-byte header; attributes follow, 4-byte aligned.
        var offset = 32
        while offset + 4 <= messageLength {
            let length = Int(get16(offset))
            let type = get16(offset + 2)
            guard length >= 4 else { return nil }
            if type == attributeReceiveQueue, length >= 12 {
                return Int(get32(offset + 4))
            }
            offset += (length + 3) & ~3
        }
        return nil
    }
}
