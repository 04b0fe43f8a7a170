import Glibc

/// A listening TCP socket bound the way every frontend binds one: the first address `host`
/// resolves to that accepts the bind, `SO_REUSEADDR`, and close-on-exec from its creation, so a
/// program a handler runs never inherits it (and never keeps the port after the server stops).
package enum TCPListener {
    /// Why ``bind(host:port:backlog:)`` failed.
    package enum Failure: Error, Equatable {
        /// `host` does not resolve; the resolver's message.
        case unresolvable(String)
        /// Another socket holds the address.
        case addressInUse
        /// Every resolved address failed; the last error, described.
        case failed(String)

        /// The failure as a sentence naming `host:port`, for a frontend's error.
        package func message(host: String, port: Int) -> String {
            switch self {
            case .unresolvable(let reason): "Cannot resolve \(host): \(reason)."
            case .addressInUse: "\(host):\(port) is already in use."
            case .failed(let reason): "Binding \(host):\(port) failed: \(reason)."
            }
        }
    }

    /// Binds and listens on `host:port` (`port` 0: a free port). Returns the descriptor.
    package static func bind(host: String, port: Int, backlog: Int) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw .unresolvable(String(cString: gai_strerror(resolved)))
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = describe(errno)
                continue
            }
            var on: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(fd, Int32(clamping: backlog)) == 0 {
                return fd
            }
            let code = errno
            close(fd)
            if code == EADDRINUSE { throw .addressInUse }
            lastError = describe(code)
        }
        throw .failed(lastError)
    }

    /// An errno value as "message (errno N)".
    package static func describe(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }
}
