import Foundation
import Glibc
import TestSupport
import Testing

/// The repository's root (this file is Tests/ASGIFastCGITests/DeployTests.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite("deploy/: nginx configurations and the local runner")
struct DeployTests {
    @Test("deploy/run-local.sh starts nginx and a Gateway backend on loopback, serves, and stops both by PID")
    func runLocal() async throws {
        let executable = try builtExecutable("HelloLegacy")
        try await withTestDirectory("run-local") { directory in
            let port = try freeLoopbackPort()
            let state = directory.file("state")
            let environment = [
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                "PORT": String(port), "STATE_DIR": state, "BIN": executable, "THREADS": "2",
            ]
            let script = repositoryRoot + "/deploy/run-local.sh"
            let start = try ChildProcess(
                "/bin/bash",
                [script, "start"],
                environment: environment,
                stdoutPath: directory.file("start.out"),
                stderrPath: directory.file("start.err")
            )
            let started = try await start.wait(timeout: .seconds(30))
            let backendPID =
                pid_t((try? String(contentsOfFile: state + "/backend.pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
                ?? 0
            let nginxPID =
                pid_t((try? String(contentsOfFile: state + "/nginx.pid.run", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
                ?? 0
            do {
                #expect(started == 0, "\(start.standardOutput)\(start.standardError)")
                #expect(start.standardOutput.contains("ready: http://127.0.0.1:\(port)/"))
                let index = try await curl("http://127.0.0.1:\(port)/", in: directory)
                #expect(index.status == 200)
                #expect(index.text.contains("<h1>HelloLegacy</h1>"))
                let greet = try await curl("http://127.0.0.1:\(port)/greet", ["--data", "name=nginx"], in: directory)
                #expect(greet.text.contains("Hello, nginx!"))
                // The site's /legacy/ location splits the path: SCRIPT_NAME=/legacy, PATH_INFO=/environ.
                let mounted = try await curl("http://127.0.0.1:\(port)/legacy/environ", in: directory)
                #expect(mounted.text.contains("SCRIPT_NAME=/legacy\n"), "\(mounted.text)")
                #expect(mounted.text.contains("PATH_INFO=/environ\n"), "\(mounted.text)")
                let socket = try FileManager.default.attributesOfItem(atPath: state + "/app.sock")
                #expect((socket[.posixPermissions] as? Int) == 0o660)
            } catch {
                Issue.record("run-local failed: \(error)")
            }
            let stop = try ChildProcess(
                "/bin/bash",
                [script, "stop"],
                environment: environment,
                stdoutPath: directory.file("stop.out"),
                stderrPath: directory.file("stop.err")
            )
            #expect(try await stop.wait(timeout: .seconds(60)) == 0)
            #expect(backendPID > 0 && kill(backendPID, 0) != 0)
            #expect(nginxPID > 0 && kill(nginxPID, 0) != 0)
            let backendLog = (try? String(contentsOfFile: state + "/backend.log", encoding: .utf8)) ?? ""
            #expect(backendLog.contains("FastCGI server stopped."), "\(backendLog)")
            #expect(backendLog.contains("with 2 worker threads"), "\(backendLog)")
        }
    }

    @Test("The nginx configurations in deploy/ pass nginx -t (the site, and the upstream across machines)")
    func nginxConfigurationsParse() async throws {
        try await withTestDirectory("nginx-t") { directory in
            let site = try String(contentsOfFile: repositoryRoot + "/deploy/nginx/swift-asgi-app.conf", encoding: .utf8)
            let cluster = try String(contentsOfFile: repositoryRoot + "/deploy/nginx/upstream-cluster.conf", encoding: .utf8)
            let siteWithoutUpstream = site.replacingOccurrences(
                of: #"upstream swift_asgi_app \{[^}]*\}"#,
                with: "",
                options: .regularExpression
            )
            #expect(siteWithoutUpstream != site)
            for (name, body) in [("site", site), ("cluster", cluster + "\n" + siteWithoutUpstream)] {
                let prefix = directory.file(name)
                try FileManager.default.createDirectory(atPath: prefix, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: "/etc/nginx/fastcgi_params", toPath: prefix + "/fastcgi_params")
                let port = try freeLoopbackPort()
                try body.replacingOccurrences(of: "listen 80;", with: "listen 127.0.0.1:\(port);")
                    .write(toFile: prefix + "/site.conf", atomically: true, encoding: .utf8)
                try """
                pid \(prefix)/nginx.pid;
                error_log \(prefix)/error.log;
                events {}
                http {
                  client_body_temp_path \(prefix)/body; fastcgi_temp_path \(prefix)/fastcgi; proxy_temp_path \(prefix)/proxy;
                  uwsgi_temp_path \(prefix)/uwsgi; scgi_temp_path \(prefix)/scgi; access_log off;
                  include \(prefix)/site.conf;
                }
                """.write(toFile: prefix + "/nginx.conf", atomically: true, encoding: .utf8)
                let check = try ChildProcess(
                    Nginx.executable,
                    ["-t", "-p", prefix, "-c", prefix + "/nginx.conf", "-e", prefix + "/error.log"],
                    stdoutPath: prefix + "/t.out",
                    stderrPath: prefix + "/t.err"
                )
                #expect(try await check.wait() == 0, "\(name): \(check.standardError)")
            }
        }
    }
}
