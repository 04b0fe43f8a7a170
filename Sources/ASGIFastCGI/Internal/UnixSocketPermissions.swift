package import Glibc

/// Who may connect to the server's unix socket: the group it is given (PHP-FPM's `listen.group`)
/// and the startup line that says who can connect, so a web server's "Permission denied" (nginx
/// answers 502) has an explanation in the backend's own log.
package enum UnixSocketPermissions {
    /// The group id `group` names: a group name, or a numeric id.
    /// - Throws: ``FastCGIError`` `invalidConfiguration` when no such group exists.
    package static func groupID(_ group: String) throws -> gid_t {
        if !group.isEmpty, group.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let id = gid_t(group) {
            return id
        }
        guard !group.isEmpty else {
            throw FastCGIError(.invalidConfiguration, "The socket group is empty; give a group name (e.g. www-data) or a number.")
        }
        var entry = Glibc.group()
        var found: UnsafeMutablePointer<Glibc.group>? = nil
        var size = 4096
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let code = getgrnam_r(group, &entry, &buffer, buffer.count, &found)
            if code == ERANGE, size < 1 << 20 {
                size *= 4
                continue
            }
            guard code == 0 else {
                throw FastCGIError(.invalidConfiguration, "Looking up the group '\(group)' failed: \(Posix.describe(code)).")
            }
            guard found != nil else {
                throw FastCGIError(
                    .invalidConfiguration,
                    "There is no group named '\(group)' on this machine (`getent group \(group)` finds none); give the web server's group, e.g. www-data for nginx on Debian."
                )
            }
            return entry.gr_gid
        }
    }

    /// The name of group `id`, or the number when it has none.
    static func groupName(_ id: gid_t) -> String {
        var entry = Glibc.group()
        var found: UnsafeMutablePointer<Glibc.group>? = nil
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrgid_r(id, &entry, &buffer, buffer.count, &found) == 0, found != nil, let name = entry.gr_name else {
            return String(id)
        }
        return String(cString: name)
    }

    /// The name of user `id`, or the number when it has none.
    static func userName(_ id: uid_t) -> String {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(id, &entry, &buffer, buffer.count, &found) == 0, found != nil, let name = entry.pw_name else {
            return String(id)
        }
        return String(cString: name)
    }

    /// What the startup log says about the socket at `path`.
    struct Report {
        /// The line, always logged.
        var line: String
        /// Whether the line is a warning: the socket is one a web server running as another user
        /// probably cannot reach.
        var isWarning: Bool
    }

    /// Describes who can connect to the socket at `path`. `groupGiven` says whether the operator
    /// chose its group; a root-run server whose socket lets only root in gets a warning that
    /// names the fix.
    static func report(path: String, groupGiven: Bool) -> Report? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        let mode = UInt16(status.st_mode & 0o777)
        let owner = userName(status.st_uid)
        let group = groupName(status.st_gid)
        let modeText = "0" + String(mode, radix: 8)
        let othersCanConnect = mode & 0o002 != 0
        if othersCanConnect {
            return Report(
                line: "FastCGI socket \(path): mode \(modeText), owner \(owner), group \(group); any local user can connect.",
                isWarning: false
            )
        }
        let who = mode & 0o020 != 0 ? "user \(owner) and members of group \(group)" : "user \(owner)"
        let line = "FastCGI socket \(path): mode \(modeText), owner \(owner), group \(group); only \(who) can connect."
        guard !groupGiven, geteuid() == 0 else { return Report(line: line, isWarning: false) }
        return Report(
            line: line
                + " A web server running as another user (nginx's workers run as www-data on Debian) gets \"Permission denied\" and answers 502: give the socket the web server's group (Gateway: --socket-group www-data; FastCGIConfiguration.socketGroup) with mode 0660.",
            isWarning: true
        )
    }
}
