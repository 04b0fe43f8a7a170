import Glibc

/// Small wrappers over the C calls the frontend makes.
enum Posix {
    /// The message of an `errno` value.
    static func describe(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }

    /// Nanoseconds on the monotonic clock.
    static func monotonicNanos() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Nanoseconds in a duration (at least 0).
    static func nanos(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// `poll(2)` over `fds`, retrying on EINTR; returns the count of ready descriptors (0 on timeout).
    @discardableResult
    static func poll(_ fds: inout [pollfd], timeoutMilliseconds: Int32) -> Int32 {
        while true {
            let result = fds.withUnsafeMutableBufferPointer { buffer in
                Glibc.poll(buffer.baseAddress, nfds_t(buffer.count), timeoutMilliseconds)
            }
            if result >= 0 || errno != EINTR { return result }
        }
    }

    /// Sleeps on `poll` for `milliseconds` (used only for back-off, never as synchronisation).
    static func pause(milliseconds: Int32) {
        var none: [pollfd] = []
        poll(&none, timeoutMilliseconds: milliseconds)
    }

    /// `POLLRDHUP` (Linux): the peer closed its writing side.
    static let pollReadHangUp: Int16 = 0x2000

    /// Sets `SO_RCVTIMEO` on a socket.
    static func setReceiveTimeout(_ fd: Int32, _ duration: Duration) {
        let nanos = nanos(duration)
        var value = timeval(tv_sec: Int(nanos / 1_000_000_000), tv_usec: Int((nanos % 1_000_000_000) / 1000))
        if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1000 }
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// An integer socket option.
    static func socketOption(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, level, name, &value, &length) == 0 else { return nil }
        return value
    }
}
