import CGatewaySystem
import Glibc

/// Small wrappers over the C calls the supervisor and its workers make.
enum SystemCalls {
    /// The message of an `errno` value.
    static func describe(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }

    /// Nanoseconds on the monotonic clock, which every process of the machine shares: a worker's
    /// request start and the supervisor's "now" are comparable.
    static func monotonicNanos() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Seconds since the epoch.
    static func wallClockSeconds() -> UInt64 {
        UInt64(max(0, time(nil)))
    }

    /// Nanoseconds in a number of seconds (at least 0).
    static func nanos(seconds: Double) -> UInt64 {
        seconds > 0 ? UInt64(seconds * 1e9) : 0
    }

    /// `poll(2)`, retrying on EINTR; the count of ready descriptors (0 on timeout).
    @discardableResult
    static func poll(_ fds: inout [pollfd], timeoutMilliseconds: Int32) -> Int32 {
        while true {
            let result = fds.withUnsafeMutableBufferPointer { buffer in
                Glibc.poll(buffer.baseAddress, nfds_t(buffer.count), timeoutMilliseconds)
            }
            if result >= 0 || errno != EINTR { return result }
        }
    }

    /// A close-on-exec copy of `fd` numbered 10 or above (clear of the numbers workers inherit
    /// their descriptors on), and the original closed.
    static func moveAboveInheritedNumbers(_ fd: Int32) throws -> Int32 {
        let moved = cgateway_dup_cloexec_at_least(fd, 10)
        guard moved >= 0 else {
            throw GatewayError(.startFailed, "Duplicating descriptor \(fd) failed: \(describe(errno)).")
        }
        close(fd)
        return moved
    }

    /// Sets close-on-exec on `fd`, so that programs the application starts do not inherit it.
    static func setCloseOnExec(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }

    /// The resident memory of process `pid` (0: this one) in bytes, from `/proc/PID/statm`; `nil`
    /// when it cannot be read (the process is gone).
    static func residentBytes(of pid: pid_t = 0) -> UInt64? {
        let path = pid == 0 ? "/proc/self/statm" : "/proc/\(pid)/statm"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        // "size resident shared text lib data dt", in pages.
        let fields = buffer[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = UInt64(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
