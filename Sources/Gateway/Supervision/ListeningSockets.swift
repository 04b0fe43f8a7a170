import ASGI
import ASGIFastCGI
import Glibc
import Logging
import Synchronization

/// The listening sockets the supervisor binds once and holds across every worker's life and
/// every reload: connections wait in their backlog while no worker accepts, so replacing a worker
/// never refuses one.
///
/// Each descriptor is close-on-exec and numbered 10 or above, clear of the numbers workers get
/// them on (``WorkerHandOver/Descriptor``).
final class ListeningSockets: Sendable {
    /// The HTTP socket, and its address for logs.
    let http: (descriptor: Int32, address: String)?
    /// The FastCGI socket, and its address for logs.
    let fastCGI: (descriptor: Int32, address: String)?
    private let unixSocket: (path: String, inode: UInt64)?
    /// Set by the first ``close()``: the descriptors are closed once, whoever calls.
    private let closed = Atomic<Bool>(false)

    /// The HTTP listen backlog (the connections that wait while every worker is busy or being
    /// replaced; the kernel caps it at `net.core.somaxconn`).
    static let httpBacklog: Int32 = 1024

    /// Binds what the options ask for.
    /// - Throws: ``GatewayError`` `bindFailed` with the reason and what to do.
    init(options: GatewayOptions, logger: Logger) throws {
        let (servesFastCGI, servesHTTP) = ServerAssembly.frontends(options)
        var fastCGI: (Int32, String)? = nil
        var unixSocket: (String, UInt64)? = nil
        if servesFastCGI {
            guard let bind = options.fastcgiBind else {
                throw GatewayError(.bindFailed, "--fastcgi must be unix:PATH, HOST:PORT or stdin.")
            }
            let bound: FastCGIListeningSocket.Bound
            do {
                bound = try FastCGIListeningSocket.bind(
                    bind,
                    backlog: ServerDefaults.backlog,
                    socketGroup: options.unixSocket.socketGroup,
                    logger: logger
                )
            } catch {
                throw GatewayError(.bindFailed, "Cannot listen for FastCGI on \(bind): \(error)")
            }
            let descriptor = try SystemCalls.moveAboveInheritedNumbers(bound.descriptor)
            if bound.descriptor == 0 {
                // The inherited socket now lives above; stdin becomes /dev/null.
                let null = open("/dev/null", O_RDONLY)
                if null > 0 {
                    dup2(null, 0)
                    Glibc.close(null)
                }
            }
            if case .unix(let path, _) = bind, let inode = bound.unixSocketInode { unixSocket = (path, inode) }
            fastCGI = (descriptor, bind.description)
        }
        var http: (Int32, String)? = nil
        if servesHTTP {
            let address = options.http ?? HostPort(argument: "127.0.0.1:8080")!
            do {
                http = try Self.bindTCP(host: address.host, port: address.port)
            } catch {
                if let fastCGI { Glibc.close(fastCGI.0) }
                if let unixSocket { FastCGIListeningSocket.removeSocketFile(path: unixSocket.0, inode: unixSocket.1) }
                throw error
            }
        }
        self.http = http
        self.fastCGI = fastCGI
        self.unixSocket = unixSocket
    }

    /// Closes the sockets and removes the unix socket file bound (new connections are refused
    /// from then on; workers still finish the connections they accepted).
    func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        if let http { Glibc.close(http.descriptor) }
        if let fastCGI { Glibc.close(fastCGI.descriptor) }
        if let unixSocket { FastCGIListeningSocket.removeSocketFile(path: unixSocket.path, inode: unixSocket.inode) }
    }

    private static func bindTCP(host: String, port: Int) throws -> (Int32, String) {
        let fd: Int32
        do {
            fd = try TCPListener.bind(host: host, port: port, backlog: Int(httpBacklog))
        } catch .unresolvable(let message) {
            throw GatewayError(.bindFailed, "Cannot resolve --http host '\(host)': \(message).")
        } catch .addressInUse {
            throw GatewayError(.bindFailed, "\(host):\(port) is already in use: stop the server holding it, or choose another --http address.")
        } catch .failed(let message) {
            throw GatewayError(.bindFailed, "Cannot listen on \(host):\(port): \(message).")
        }
        let moved = try SystemCalls.moveAboveInheritedNumbers(fd)
        return (moved, boundAddress(moved) ?? "\(host):\(port)")
    }

    /// `HOST:PORT` of a bound socket (the port an ephemeral `:0` got).
    private static func boundAddress(_ fd: Int32) -> String? {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard result == 0 else { return nil }
        let hostText = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let serviceText = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return hostText.contains(":") ? "[\(hostText)]:\(serviceText)" : "\(hostText):\(serviceText)"
    }
}
