import ASGI
import ASGIConformance
import ASGIFastCGI
import ASGIHTTPServer
import ASGITesting
import Foundation
import Logging
import ServiceLifecycle
import TestSupport
import Testing

/// The frontends every conformance request goes through.
enum Frontend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// `FastCGIServer` behind a real nginx (unix socket).
    case fastcgi
    /// `ASGIHTTPServer` (a WSGI-style application through `WSGIToASGI`).
    case http
    /// `HTTPCommunicator`, in process (a WSGI-style application through `WSGIToASGI`).
    case communicator

    var testDescription: String { rawValue }
}

/// Which of the two conformance applications is served.
enum AppKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case wsgi, asgi
    var testDescription: String { rawValue }
}

/// What a frontend answered.
struct Answer: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    /// Whether the body arrived whole.
    var complete: Bool
    /// The application's error, where the in-process communicator re-throws what a server answers.
    var error: String?

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var json: [String: String] {
        ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
    }
}

/// Every frontend serving one application at once, for the length of a test.
struct Frontends: Sendable {
    let kind: AppKind
    let nginx: Nginx
    var nginxPort: Int { nginx.port }
    let httpPort: Int
    let application: any ASGIApplication
    /// The state the servers' lifespan gives request scopes, handed to the communicator by hand.
    let lifespanState: [String: ASGIValue]

    /// The mount point every frontend serves the application under.
    static let mountPoint = ConformanceTable.mountPoint

    /// nginx: `server_name` set to the address clients use, so `SERVER_NAME` is what the HTTP
    /// server reports; the path split at the mount point; responses unbuffered (streaming).
    static let nginxLocations = """
        server_name 127.0.0.1;
        location /app/ {
          fastcgi_split_path_info ^(/app)(/.*)$;
          \(fastcgiParams)
          fastcgi_param PATH_INFO $fastcgi_path_info;
          fastcgi_param SCRIPT_NAME $fastcgi_script_name;
          fastcgi_buffering off;
          fastcgi_pass $backend;
        }
        """

    /// Sends `probe` to `frontend`.
    func send(_ probe: ConformanceProbe, to frontend: Frontend, stopAfter: Int? = nil) async throws -> Answer {
        switch frontend {
        case .fastcgi:
            return try await raw(probe, port: nginxPort, target: Self.mountPoint + probe.target, stopAfter: stopAfter)
        case .http:
            // The HTTP server is configured with the root path, as behind a proxy that strips it.
            return try await raw(probe, port: httpPort, target: probe.target, stopAfter: stopAfter)
        case .communicator:
            var headers = ASGIHeaders()
            headers.append("host", "127.0.0.1:\(httpPort)")
            for (name, value) in probe.headers { headers.append(name, value) }
            // What the raw client sends on the wire after them.
            if !probe.keepAlive { headers.append("connection", "close") }
            let communicator = HTTPCommunicator(
                application: application,
                method: probe.method,
                path: Self.mountPoint + probe.target,
                body: probe.body,
                headers: headers,
                rootPath: Self.mountPoint,
                client: ASGIAddress(host: "127.0.0.1", port: 50000),
                server: ASGIAddress(host: "127.0.0.1", port: httpPort),
                state: lifespanState
            )
            do {
                let response = try await communicator.getResponse(timeout: .seconds(60))
                return Answer(
                    status: response.status,
                    headers: response.headers.map { ($0.nameString, $0.valueString) },
                    body: response.body,
                    complete: true
                )
            } catch {
                return Answer(status: 0, headers: [], body: [], complete: false, error: String(describing: error))
            }
        }
    }

    private func raw(_ probe: ConformanceProbe, port: Int, target: String, stopAfter: Int?) async throws -> Answer {
        let request = rawRequest(
            probe.method,
            target,
            port: port,
            headers: probe.headers.map { "\($0.0): \($0.1)" },
            body: probe.body,
            keepAlive: probe.keepAlive
        )
        let response = try await rawHTTP(port: port, request, stopAfter: stopAfter, keepAlive: probe.keepAlive)
        return Answer(status: response.status, headers: response.headers, body: response.body, complete: response.complete)
    }
}

/// Serves `kind`'s conformance application on every frontend at once (FastCGI behind nginx, the
/// HTTP server, the communicator), each with its lifespan, and runs `body`.
func withFrontends<R: Sendable>(
    _ kind: AppKind,
    file: String,
    observations: Observations,
    _ body: @Sendable (Frontends) async throws -> R
) async throws -> R {
    let logger = Logger(label: "conformance") { _ in SwiftLogNoOpLogHandler() }
    let wsgi = ConformanceApps.wsgi(file: file, observations: observations)
    let asgi = ConformanceApps.asgi(file: file, observations: observations)
    // WSGI-style: the same (empty) hooks everywhere, so every server runs a lifespan and copies
    // its (empty) state into scopes.
    let hooks = WSGILifespan(startup: {}, shutdown: {})
    let application: any ASGIApplication = kind == .asgi ? asgi : WSGIToASGI(wsgi, lifespan: hooks, logger: logger)
    let state: [String: ASGIValue] = kind == .asgi ? ["greeting": ConformanceApps.greeting] : [:]
    return try await withTestDirectory("conformance-\(kind)") { directory in
        let socketPath = directory.file("app.sock")
        let configuration = FastCGIConfiguration(bind: .unix(path: socketPath), workerThreads: 4, accessLog: false)
        let server =
            kind == .asgi
            ? FastCGIServer(application: asgi, configuration: configuration, logger: logger)
            : FastCGIServer(application: wsgi, lifespan: hooks, configuration: configuration, logger: logger)
        return try await withServer(server) { _ in
            let nginx = try await Nginx.start(in: directory, backend: "unix:\(socketPath)", locations: Frontends.nginxLocations)
            do {
                let result = try await withHTTPServer(application, rootPath: Frontends.mountPoint) { port in
                    try await body(Frontends(kind: kind, nginx: nginx, httpPort: port, application: application, lifespanState: state))
                }
                await nginx.stop()
                return result
            } catch {
                await nginx.stop()
                throw error
            }
        }
    }
}

/// Runs an ASGIHTTPServer on an ephemeral loopback port for the length of `body`.
func withHTTPServer<R: Sendable>(
    _ application: any ASGIApplication,
    rootPath: String,
    _ body: @Sendable (Int) async throws -> R
) async throws -> R {
    let (addresses, continuation) = AsyncStream<ASGIAddress>.makeStream()
    let server = ASGIHTTPServer(
        application: application,
        configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, rootPath: rootPath, accessLog: false),
        logger: Logger(label: "cross-environ") { _ in SwiftLogNoOpLogHandler() },
        onServerRunning: { continuation.yield($0) }
    )
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
            services: [.init(service: server)],
            logger: Logger(label: "cross-environ-group") { _ in SwiftLogNoOpLogHandler() }
        )
    )
    return try await withThrowingTaskGroup(of: R?.self) { tasks in
        tasks.addTask {
            defer { continuation.finish() }
            try await group.run()
            return nil
        }
        do {
            var iterator = addresses.makeAsyncIterator()
            guard let address = await iterator.next(), let port = address.port else {
                throw TestFailure("the HTTP server stopped before it listened")
            }
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            while let value = try await tasks.next() { _ = value }
            return result
        } catch {
            await group.triggerGracefulShutdown()
            tasks.cancelAll()
            throw error
        }
    }
}
