import ASGI
import ASGIFastCGI
import ASGIHTTPServer
import ASGITesting
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// One WSGI-style application value that answers with the CGI variables it was given.
let environDump = WSGIApp { environ, startResponse in
    var variables = environ.variables
    variables["wsgi.url_scheme"] = environ.urlScheme
    variables["body"] = String(decoding: try environ.input.read(), as: UTF8.self)
    let json = try JSONSerialization.data(withJSONObject: variables, options: [.sortedKeys])
    _ = try startResponse("200 OK", [("Content-Type", "application/json")], nil)
    return [Array(json)]
}

/// The variables every front end must agree on; addresses and ports differ by nature.
let comparedVariables = [
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI", "SERVER_PROTOCOL",
    "CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_X_CUSTOM", "HTTP_COOKIE", "wsgi.url_scheme", "body",
]

/// A request, as each front end is asked it.
struct EnvironProbe: Sendable, CustomTestStringConvertible {
    let method: String
    /// The path below the mount point `/app`, percent-encoded, with its query.
    let target: String
    let body: String
    let testDescription: String

    static let all = [
        EnvironProbe(method: "GET", target: "/items/caf%C3%A9?x=1&y=%20z", body: "", testDescription: "GET, non-ASCII path, query"),
        EnvironProbe(method: "POST", target: "/forms/signup", body: "name=ada&lang=swift", testDescription: "POST with a form body"),
    ]
}

/// Serves `environDump` through FastCGI behind nginx, through the HTTP server, and in process with
/// `HTTPCommunicator`, and checks that all three build the same environ for the same request.
@Suite("Same environ from FastCGI, HTTP and HTTPCommunicator")
struct CrossServerEnvironTests {
    @Test(arguments: EnvironProbe.all)
    func allFrontEndsAgree(probe: EnvironProbe) async throws {
        let curlArguments = ["-X", probe.method, "-H", "X-Custom: one", "-H", "Cookie: a=1"]
            + (probe.body.isEmpty ? [] : ["-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", probe.body])

        let viaFastCGI = try await withNginxAndServer("cross-environ", wsgi: environDump) { nginx, _, directory in
            try await curl("\(nginx.url)/app\(probe.target)", curlArguments, in: directory).json.compactMapValues { $0 as? String }
        }

        let viaHTTP = try await withTestDirectory("cross-environ-http") { directory in
            try await withHTTPServer(WSGIToASGI(environDump), rootPath: "/app") { port in
                try await curl("http://127.0.0.1:\(port)\(probe.target)", curlArguments, in: directory).json.compactMapValues { $0 as? String }
            }
        }

        var headers: ASGIHeaders = [("x-custom", "one"), ("cookie", "a=1")]
        if !probe.body.isEmpty { headers.append("content-type", "application/x-www-form-urlencoded") }
        let response = try await HTTPCommunicator(
            application: WSGIToASGI(environDump), method: probe.method, path: "/app" + probe.target,
            body: Array(probe.body.utf8), headers: headers, rootPath: "/app"
        ).getResponse(timeout: .seconds(60))
        let viaCommunicator = ((try JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]).compactMapValues { $0 as? String }

        for key in comparedVariables {
            let fastcgi = viaFastCGI[key]
            #expect(viaHTTP[key] == fastcgi, "\(key): HTTP \(String(describing: viaHTTP[key])) vs FastCGI \(String(describing: fastcgi))")
            #expect(viaCommunicator[key] == fastcgi, "\(key): HTTPCommunicator \(String(describing: viaCommunicator[key])) vs FastCGI \(String(describing: fastcgi))")
        }
        #expect(viaFastCGI["SCRIPT_NAME"] == "/app")
        #expect(viaFastCGI["REQUEST_METHOD"] == probe.method)
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
    let group = ServiceGroup(configuration: ServiceGroupConfiguration(
        services: [.init(service: server)],
        logger: Logger(label: "cross-environ-group") { _ in SwiftLogNoOpLogHandler() }
    ))
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
