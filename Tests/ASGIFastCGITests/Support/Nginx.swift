import Foundation
import Glibc
import TestSupport

/// A private temporary directory, removed by ``remove()``.
struct TestDirectory: Sendable {
    let path: String

    init(_ name: String) throws {
        var template = Array("/tmp/asgi-fcgi-\(name).XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestFailure("mkdtemp failed: errno \(errno)")
        }
        path = String(cString: made)
        // nginx (non-daemon, one process) runs as us; nothing else needs to enter.
        chmod(path, 0o700)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a fresh directory that is removed afterwards, whatever happens.
func withTestDirectory<R>(_ name: String, _ body: (TestDirectory) async throws -> R) async throws -> R {
    let directory = try TestDirectory(name)
    do {
        let result = try await body(directory)
        directory.remove()
        return result
    } catch {
        directory.remove()
        throw error
    }
}

/// A free TCP port on 127.0.0.1 (bound to port 0, read back, released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestFailure("binding port 0 failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// Whether something accepts connections on the unix socket at `path`.
func canConnect(unixPath path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
    }
}

/// A real nginx on a loopback port, in front of a FastCGI backend: its own prefix, configuration,
/// pid file, logs and temp paths in the test's directory; one process (`master_process off`,
/// `daemon off`), running as the test's user, stopped by its PID. With `user`, nginx runs as it
/// does when installed: a master (the test's user, root) and a worker process running as `user`.
final class Nginx: Sendable {
    static let executable = "/usr/sbin/nginx"

    let port: Int
    let process: ChildProcess
    let directory: TestDirectory

    /// The base URL, `http://127.0.0.1:PORT`.
    var url: String { "http://127.0.0.1:\(port)" }

    /// Starts nginx with `locations` (the `server` block's body) passing to `backend`
    /// (`unix:PATH` or `127.0.0.1:PORT`, the address as nginx's `fastcgi_pass` writes it).
    ///
    /// `$backend` in `locations` stands for the backend address; an upstream named `backend_pool`
    /// with `keepalive 4` is defined for `fastcgi_keep_conn` tests. `http` adds directives to the
    /// `http` block (an upstream of its own, for example). `user` runs the worker process as that
    /// user (the test must run as root).
    static func start(
        in directory: TestDirectory,
        backend: String,
        locations: String,
        http: String = "",
        user: String? = nil
    ) async throws -> Nginx {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw TestFailure("nginx is not installed at \(executable): run scripts/bootstrap.sh (apt-get install nginx)")
        }
        var lastError = ""
        for _ in 0..<5 {
            let port = try freeLoopbackPort()
            let prefix = directory.file("nginx")
            try FileManager.default.createDirectory(atPath: prefix + "/tmp", withIntermediateDirectories: true)
            let configuration = """
                \(user.map { "user \($0);" } ?? "")
                worker_processes 1;
                pid \(prefix)/nginx.pid;
                error_log \(prefix)/error.log info;
                events { worker_connections 256; }
                http {
                  access_log \(prefix)/access.log;
                  client_body_temp_path \(prefix)/tmp/body;
                  fastcgi_temp_path \(prefix)/tmp/fastcgi;
                  proxy_temp_path \(prefix)/tmp/proxy;
                  uwsgi_temp_path \(prefix)/tmp/uwsgi;
                  scgi_temp_path \(prefix)/tmp/scgi;
                  client_max_body_size 200m;
                  fastcgi_read_timeout 30s;
                  upstream backend_pool { server \(backend); keepalive 4; }
                  \(http)
                  server {
                    listen 127.0.0.1:\(port);
                    \(locations.replacingOccurrences(of: "$backend", with: backend))
                  }
                }
                """
            try configuration.write(toFile: prefix + "/nginx.conf", atomically: true, encoding: .utf8)
            let process = try ChildProcess(
                executable,
                [
                    "-p", prefix, "-c", prefix + "/nginx.conf", "-e", prefix + "/error.log",
                    "-g", user == nil ? "daemon off; master_process off;" : "daemon off;",
                ],
                stdoutPath: prefix + "/stdout.log",
                stderrPath: prefix + "/stderr.log"
            )
            let nginx = Nginx(port: port, process: process, directory: directory)
            do {
                try await eventually("nginx listening on \(port)") {
                    if process.poll() != nil { throw TestFailure("nginx exited: \(nginx.errorLog.suffix(600))") }
                    return canConnect(port: port)
                }
                return nginx
            } catch {
                lastError = String(describing: error)
                await process.stop()
            }
        }
        throw TestFailure("nginx did not start: \(lastError)")
    }

    private init(port: Int, process: ChildProcess, directory: TestDirectory) {
        self.port = port
        self.process = process
        self.directory = directory
    }

    var errorLog: String {
        (try? String(contentsOfFile: directory.file("nginx/error.log"), encoding: .utf8)) ?? ""
    }

    /// Stops nginx by its PID (SIGQUIT: graceful), SIGKILL if it lingers.
    func stop() async {
        await process.stop(signal: SIGQUIT, grace: .seconds(5))
    }
}

/// The standard `fastcgi_params` set of nginx (Debian's /etc/nginx/fastcgi_params), as an
/// include line.
let fastcgiParams = "include /etc/nginx/fastcgi_params;"
