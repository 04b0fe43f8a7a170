import ASGI
import ASGIFastCGI
import Foundation
import Glibc
import TestSupport
import Testing

/// The group nginx's workers run in on Debian, and a group that surely does not exist.
private let webServerGroup = "www-data"
private let missingGroup = "no-such-group-7f3a"

/// The unix socket's mode and group (PHP-FPM's `listen.mode`/`listen.group`): set before the
/// socket is moved into place, refused clearly when the group does not exist, and honoured by a
/// real nginx whose worker runs as `www-data`, as an installed nginx does.
@Suite("FastCGI unix socket mode and group")
struct SocketPermissionTests {
    static func status(_ path: String) throws -> stat {
        var status = stat()
        guard lstat(path, &status) == 0 else { throw TestFailure("lstat \(path): errno \(errno)") }
        return status
    }

    /// The group a test may give the socket: `www-data` as root (CI), else the test's own group.
    static var groupForSocket: (name: String, id: gid_t) {
        if geteuid() == 0, let entry = getgrnam(webServerGroup) { return (webServerGroup, entry.pointee.gr_gid) }
        return (String(getegid()), getegid())
    }

    @Test func groupAndModeAreSetAndLogged() async throws {
        try await withTestDirectory("sock-group") { directory in
            let path = directory.file("app.sock")
            let (group, gid) = Self.groupForSocket
            var configuration = FastCGIConfiguration(bind: .unix(path: path, mode: 0o660), workerThreads: 1)
            configuration.socketGroup = group
            let logs = CapturedLogs()
            try await withServer(FastCGIServer(application: TestApps.echoWSGI, configuration: configuration, logger: logs.logger)) { _ in
                let socket = try Self.status(path)
                #expect(socket.st_gid == gid)
                #expect(socket.st_mode & 0o777 == 0o660)
                #expect(socket.st_mode & S_IFMT == S_IFSOCK)
                // Nothing is left under the temporary name.
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }
                #expect(leftovers.isEmpty)
            }
            #expect(logs.contains("FastCGI socket \(path): mode 0660"), "\(logs.messages)")
            #expect(logs.contains("only user"), "\(logs.messages)")
            #expect(!logs.contains("Permission denied"), "no warning when the group was chosen")
        }
    }

    @Test func unknownGroupIsRefusedBeforeAnythingIsBound() async throws {
        try await withTestDirectory("sock-nogroup") { directory in
            let path = directory.file("app.sock")
            var configuration = FastCGIConfiguration(bind: .unix(path: path), workerThreads: 1)
            configuration.socketGroup = missingGroup
            let server = FastCGIServer(application: TestApps.echoWSGI, configuration: configuration, logger: CapturedLogs().logger)
            do {
                try await server.run()
                Issue.record("a server with an unknown socket group started")
            } catch let error as FastCGIError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains("There is no group named '\(missingGroup)'"), "\(error.message)")
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func groupOnATCPBindIsRefused() async throws {
        var configuration = FastCGIConfiguration(bind: .tcp(host: "127.0.0.1", port: try freeLoopbackPort()), workerThreads: 1)
        configuration.socketGroup = "0"
        let server = FastCGIServer(application: TestApps.echoWSGI, configuration: configuration, logger: CapturedLogs().logger)
        await #expect(throws: FastCGIError(.invalidConfiguration, "")) { try await server.run() }
    }

    /// The runner refuses an unknown group at once, with the message and a non-zero exit.
    @Test func runnerRefusesAnUnknownGroup() async throws {
        try await withTestDirectory("sock-runner-nogroup") { directory in
            let process = try ChildProcess(
                try builtExecutable("GatewayProbe"),
                ["--fastcgi", "unix:\(directory.file("s.sock"))", "--socket-group", missingGroup],
                stdoutPath: directory.file("out"),
                stderrPath: directory.file("err")
            )
            #expect(try await process.wait(timeout: .seconds(30)) != 0)
            #expect(process.standardError.contains("Error: --socket-group: There is no group named '\(missingGroup)'"), "\(process.standardError)")
            #expect(!FileManager.default.fileExists(atPath: directory.file("s.sock")))
        }
    }

    /// A root-run backend behind nginx running as www-data: with `--socket-group www-data
    /// --socket-mode 660` nginx reaches it; without the group nginx answers 502 ("Permission
    /// denied" in its log) and the backend's own log said at startup why.
    @Test(.enabled(if: geteuid() == 0, "needs root: nginx's master starts its worker as www-data, as an installed nginx does"))
    func nginxAsWebServerUserReachesTheSocketOnlyWithTheGroup() async throws {
        try await withTestDirectory("sock-www-data") { directory in
            // www-data may pass through the directory to the socket, but not list it.
            chmod(directory.path, 0o711)
            for withGroup in [true, false] {
                let socket = directory.file(withGroup ? "grouped.sock" : "rootonly.sock")
                let arguments = ["--fastcgi", "unix:\(socket)", "--socket-mode", "660"] + (withGroup ? ["--socket-group", webServerGroup] : [])
                let probe = try await GatewayProbeProcess.start(
                    arguments,
                    in: directory,
                    name: withGroup ? "grouped" : "rootonly",
                    ready: ["unix:\(socket)"]
                )
                try await onFailure({ await probe.stop() }) {
                    let nginx = try await Nginx.start(
                        in: directory,
                        backend: "unix:\(socket)",
                        locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }",
                        user: webServerGroup
                    )
                    try await onFailure({ await nginx.stop() }) {
                        let response = try await curl("\(nginx.url)/hello", in: directory)
                        let status = try Self.status(socket)
                        if withGroup {
                            #expect(response.status == 200)
                            #expect(response.text == "hello")
                            #expect(status.st_gid == getgrnam(webServerGroup)?.pointee.gr_gid)
                            try await probe.waitForLog("group \(webServerGroup); only user root and members of group \(webServerGroup) can connect.")
                        } else {
                            #expect(response.status == 502)
                            #expect(status.st_gid == 0)
                            #expect(nginx.errorLog.contains("Permission denied"), "\(nginx.errorLog.suffix(800))")
                            try await probe.waitForLog(
                                "gets \"Permission denied\" and answers 502: give the socket the web server's group (Gateway: --socket-group www-data"
                            )
                            // The supervisor binds the socket, so the warning is the runner's own.
                            #expect(probe.log.contains("warning asgi.gateway"), "\(probe.log)")
                        }
                        await nginx.stop()
                    }
                    #expect(try await probe.terminate() == 0)
                }
            }
        }
    }
}
