import Foundation
import Glibc
import TestSupport
import Testing

/// The `HelloLegacy` example through the `Gateway` runner's command line, as `make run` starts it.
@Suite("Gateway runner (HelloLegacy)")
struct GatewayRunnerTests {
    /// Serves HTTP and FastCGI at once: the routes answer over HTTP, the same app answers through
    /// nginx over the unix socket, and SIGTERM ends the process with status 0.
    @Test func servesBothAndStopsOnSIGTERM() async throws {
        try await withTestDirectory("gateway") { directory in
            let port = try freeLoopbackPort()
            let socket = directory.file("hello.sock")
            let process = try ChildProcess(
                try builtExecutable("HelloLegacy"),
                ["--http", "127.0.0.1:\(port)", "--fastcgi", "unix:\(socket)", "--threads", "4", "--log-level", "warning"],
                stdoutPath: directory.file("stdout.log"),
                stderrPath: directory.file("stderr.log")
            )
            do {
                try await eventually("HelloLegacy on \(port)") {
                    if process.poll() != nil { throw TestFailure("HelloLegacy exited early") }
                    return canConnect(port: port) && canConnect(unixPath: socket)
                }
                let index = try await curl("http://127.0.0.1:\(port)/", in: directory)
                #expect(index.status == 200)
                #expect(String(decoding: index.body, as: UTF8.self).contains("HelloLegacy"))
                let greet = try await curl("http://127.0.0.1:\(port)/greet", ["--data", "name=Ada+Lovelace"], in: directory)
                #expect(String(decoding: greet.body, as: UTF8.self).contains("Hello, Ada Lovelace!"))
                let stream = try await curl("http://127.0.0.1:\(port)/stream", in: directory)
                #expect(String(decoding: stream.body, as: UTF8.self) == (1...5).map { "line \($0) of 5\n" }.joined())
                let failure = try await curl("http://127.0.0.1:\(port)/error", in: directory)
                #expect(failure.status == 500)
                let missing = try await curl("http://127.0.0.1:\(port)/nope", in: directory)
                #expect(missing.status == 404)

                let nginx = try await Nginx.start(
                    in: directory,
                    backend: "unix:\(socket)",
                    locations: "location / { \(fastcgiParams) fastcgi_pass $backend; }"
                )
                let viaNginx = try await curl("\(nginx.url)/greet", ["--data", "name=nginx"], in: directory)
                await nginx.stop()
                #expect(viaNginx.status == 200)
                #expect(String(decoding: viaNginx.body, as: UTF8.self).contains("Hello, nginx!"))

                process.signal(SIGTERM)
                let status = try await process.wait(timeout: .seconds(60))
                #expect(status == 0)
            } catch {
                await process.stop()
                throw error
            }
        }
    }

    /// Bad options are refused with a clear message and a non-zero exit; `--version` prints the
    /// package version.
    @Test func badOptionsAndVersion() async throws {
        try await withTestDirectory("gateway-options") { directory in
            for arguments in [["--threads", "0"], ["--fastcgi", "nowhere"], ["--http", "localhost"], ["--no-such-option"]] {
                let process = try ChildProcess(
                    try builtExecutable("HelloLegacy"),
                    arguments,
                    stdoutPath: directory.file("out.log"),
                    stderrPath: directory.file("err.log")
                )
                let status = try await process.wait(timeout: .seconds(30))
                #expect(status != 0, "\(arguments) should fail")
                let message = (try? String(contentsOfFile: directory.file("err.log"), encoding: .utf8)) ?? ""
                #expect(message.contains("Error:"), "\(arguments): \(message)")
            }
            let version = try ChildProcess(
                try builtExecutable("HelloLegacy"),
                ["--version"],
                stdoutPath: directory.file("version.log"),
                stderrPath: directory.file("version-err.log")
            )
            #expect(try await version.wait(timeout: .seconds(30)) == 0)
            let printed = (try? String(contentsOfFile: directory.file("version.log"), encoding: .utf8)) ?? ""
            #expect(printed.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        }
    }
}
