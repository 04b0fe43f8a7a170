import Glibc
package import Logging

/// The listening socket a ``FastCGIServer`` would bind, bound by another process: the `Gateway`
/// runner's supervisor binds it once and hands it to its worker processes on file descriptor 0,
/// where each serves it as ``FastCGIConfiguration/Bind/inherited``. The rules are the server's
/// own: a stale unix socket is replaced, a live one or a non-socket file is never touched, and the
/// socket appears at its path with its mode already set.
package enum FastCGIListeningSocket {
    /// A bound, listening socket (close-on-exec), and for a unix socket the inode of the file
    /// created, so that ``removeSocketFile(path:inode:)`` removes only that one.
    package struct Bound: Sendable {
        package var descriptor: Int32
        package var unixSocketInode: UInt64?
    }

    /// Binds and listens as the server would; `.inherited` checks that fd 0 is a listening socket.
    /// - Throws: ``FastCGIError`` (`bindFailed`, `addressInUse`, `notAListeningSocket`,
    ///   `invalidConfiguration`).
    package static func bind(_ bind: FastCGIConfiguration.Bind, backlog: Int, socketGroup: String? = nil, logger: Logger? = nil) throws -> Bound {
        switch bind {
        case .unix(let path, let mode):
            if path.utf8.count >= 108 {
                throw FastCGIError(.invalidConfiguration, "The unix socket path is longer than the 107 bytes a socket address holds: \(path)")
            }
            let group = try socketGroup.map(UnixSocketPermissions.groupID)
            let (fd, inode) = try Listener.bindUnix(path: path, mode: mode, group: group, backlog: backlog)
            if let logger, let report = UnixSocketPermissions.report(path: path, groupGiven: group != nil) {
                if report.isWarning { logger.warning("\(report.line)") } else { logger.info("\(report.line)") }
            }
            return Bound(descriptor: fd, unixSocketInode: UInt64(inode))
        case .tcp(let host, let port):
            guard (1...65535).contains(port) else {
                throw FastCGIError(.invalidConfiguration, "The TCP port must be between 1 and 65535 (got \(port)).")
            }
            return Bound(descriptor: try Listener.bindTCP(host: host, port: port, backlog: backlog), unixSocketInode: nil)
        case .inherited:
            return Bound(descriptor: try Listener.adoptInherited(), unixSocketInode: nil)
        }
    }

    /// Removes the unix socket file at `path` if it is still the one bound (same inode): a server
    /// that replaced it meanwhile keeps its own.
    package static func removeSocketFile(path: String, inode: UInt64) {
        var status = stat()
        if lstat(path, &status) == 0, UInt64(status.st_ino) == inode {
            unlink(path)
        }
    }
}
