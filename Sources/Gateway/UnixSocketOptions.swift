import ASGIFastCGI
import ArgumentParser

/// Who may connect to the FastCGI unix socket: PHP-FPM's `listen.mode` and `listen.group`.
struct UnixSocketOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Permission bits of the FastCGI unix socket, in octal (default 660: its owner and its group can connect). PHP-FPM's listen.mode.",
            valueName: "OCTAL"
        )
    )
    var socketMode: SocketMode?

    @Option(
        help: ArgumentHelp(
            "Group of the FastCGI unix socket, a name or a number: the web server's group (www-data for nginx on Debian), so its workers can connect to a backend running as another user, root included. PHP-FPM's listen.group.",
            valueName: "NAME"
        )
    )
    var socketGroup: String?

    func validate() throws {
        if let socketGroup {
            do {
                _ = try UnixSocketPermissions.groupID(socketGroup)
            } catch let error as FastCGIError {
                throw ValidationError("--socket-group: \(error.message)")
            }
        }
    }
}

/// Permission bits written in octal: `660`, `0660` or `0o660`, at most `777`.
struct SocketMode: ExpressibleByArgument, Hashable, Sendable {
    var bits: UInt16

    init?(argument: String) {
        var digits = Substring(argument)
        if digits.hasPrefix("0o") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 4, digits.allSatisfy({ ("0"..."7").contains($0) }),
            let bits = UInt16(digits, radix: 8), bits <= 0o777
        else { return nil }
        self.bits = bits
    }

    static var defaultCompletionKind: CompletionKind { .list(["660", "666", "600"]) }
}
