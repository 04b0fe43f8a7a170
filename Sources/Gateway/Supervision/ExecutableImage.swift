import Glibc

/// The executable a generation of workers is spawned from, held open so that every worker of
/// that generation runs the same program.
///
/// Generation 0 holds the supervisor's own image (`/proc/self/exe`), even if a new build has
/// been deployed over it meanwhile: a worker replaced after a crash, a timeout or recycling runs
/// what its siblings run. A SIGHUP opens the file at the executable's path as resolved at
/// startup, so a new build deployed in place (written over, or renamed over the old one) is what
/// the next generation and all its replacements run. Workers are spawned through
/// `/proc/self/fd/N`, which names the held file whatever happened to its path since.
final class ExecutableImage {
    /// The open file (close-on-exec, numbered 10 or above).
    let descriptor: Int32

    /// The path that spawns it.
    var spawnPath: String { "/proc/self/fd/\(descriptor)" }

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// The image this process runs.
    /// - Throws: ``GatewayError`` `startFailed`.
    static func running() throws -> ExecutableImage {
        try open("/proc/self/exe")
    }

    /// The file at `path` now.
    /// - Throws: ``GatewayError`` `startFailed` when it cannot be opened.
    static func open(_ path: String) throws -> ExecutableImage {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw GatewayError(.startFailed, "Cannot open the executable \(path): \(SystemCalls.describe(errno)).")
        }
        return ExecutableImage(descriptor: try SystemCalls.moveAboveInheritedNumbers(fd))
    }

    /// The path of the executable this process runs, as it was when it started (resolve it
    /// before anything replaces the file: then the link names a deleted file).
    static func resolvedPath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.hasSuffix(" (deleted)") ? nil : path
    }

    func close() {
        Glibc.close(descriptor)
    }
}
