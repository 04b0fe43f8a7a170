import ASGI
import ASGIFastCGI
import ASGIHTTPServer
import ArgumentParser
import Foundation
import Glibc
import Logging
import Testing

@testable import Gateway

/// The runner's command line: each serving option parses, reaches both servers where it applies,
/// explains itself in `--help`, and a bad value is refused with a message that says what to do.
@Suite("Gateway options")
struct GatewayOptionsTests {
    func parse(_ arguments: [String]) throws -> GatewayOptions {
        try GatewayOptions.parse(arguments)
    }

    /// The message a user sees for `arguments`, which must be refused.
    func refusal(_ arguments: [String]) -> String {
        do {
            _ = try GatewayOptions.parse(arguments)
            return "accepted"
        } catch {
            #expect(GatewayOptions.exitCode(for: error) != .success, "\(arguments)")
            return GatewayOptions.message(for: error)
        }
    }

    func fastCGIConfiguration(_ options: GatewayOptions) throws -> FastCGIConfiguration {
        var configuration = FastCGIConfiguration(bind: try #require(options.fastcgiBind), workerThreads: options.threads)
        options.applyServingOptions(to: &configuration)
        return configuration
    }

    func httpConfiguration(_ options: GatewayOptions) -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration()
        options.applyServingOptions(to: &configuration)
        return configuration
    }

    @Test func defaults() throws {
        let options = try parse(["--fastcgi", "unix:/tmp/x.sock", "--http", "127.0.0.1:0"])
        let fastcgi = try fastCGIConfiguration(options)
        #expect(fastcgi.bind == .unix(path: "/tmp/x.sock", mode: 0o660))
        #expect(fastcgi.socketGroup == nil)
        #expect(fastcgi.slowRequestThreshold == .seconds(5))
        #expect(fastcgi.accessLog)
        #expect(fastcgi.rootPath == nil)
        let http = httpConfiguration(options)
        #expect(http.accessLog)
        #expect(http.rootPath == "")
        #expect(http.maxConcurrentRequests == nil)
        #expect(!options.proxy.proxyHeaders)
        #expect(http.bodyReadTimeout == ServerDefaults.readTimeout)
        #expect(http.minimumBodyDataRate == ServerDefaults.minimumBodyDataRate)
        #expect(http.maxWebSocketMessageBytes == ServerDefaults.maxWebSocketMessageBytes)
        #expect(http.webSocketPingInterval == ServerDefaults.webSocketPingInterval)
    }

    @Test func httpClientAndWebSocketLimitsReachTheHTTPServer() throws {
        let limits = httpConfiguration(
            try parse([
                "--http", "127.0.0.1:0", "--body-timeout", "2.5", "--min-body-rate", "1000", "--ws-max-size", "4096", "--ws-ping-interval", "7",
            ])
        )
        #expect(limits.bodyReadTimeout == .milliseconds(2500))
        #expect(limits.minimumBodyDataRate?.bytesPerSecond == 1000)
        #expect(limits.maxWebSocketMessageBytes == 4096)
        #expect(limits.webSocketPingInterval == .seconds(7))
        let off = httpConfiguration(try parse(["--http", "127.0.0.1:0", "--body-timeout", "0", "--min-body-rate", "0", "--ws-ping-interval", "0"]))
        #expect(off.bodyReadTimeout == nil)
        #expect(off.minimumBodyDataRate == nil)
        #expect(off.webSocketPingInterval == nil)
    }

    @Test("--body-prefetch reaches the HTTP server's WSGI bridge; by default ServerDefaults.bodyPrefetchBytes; 0 takes a thread at once")
    func bodyPrefetchReachesTheWSGIBridge() throws {
        let legacy = WSGIApp { _, _ in [] }
        let logger = GatewayLogging(level: .info).logger("t")
        let byDefault = try parse(["--http", "127.0.0.1:0"]).wsgiToASGI(legacy, executor: nil, logger: logger)
        #expect(byDefault.bodyPrefetchBytes == ServerDefaults.bodyPrefetchBytes)
        let set = try parse(["--http", "127.0.0.1:0", "--body-prefetch", "1048576"]).wsgiToASGI(legacy, executor: nil, logger: logger)
        #expect(set.bodyPrefetchBytes == 1_048_576)
        let off = try parse(["--http", "127.0.0.1:0", "--body-prefetch", "0"]).wsgiToASGI(legacy, executor: nil, logger: logger)
        #expect(off.bodyPrefetchBytes == 0)
        #expect(set.maxRequestBodyBytes == ServerDefaults.maxRequestBodyBytes, "--max-body still applies")
    }

    @Test func everyServingOptionReachesBothServers() throws {
        let options = try parse([
            "--fastcgi", "unix:/tmp/x.sock", "--http", "127.0.0.1:0", "--threads", "16",
            "--slow-log", "2.5", "--root-path", "/app", "--limit-concurrency", "8", "--no-access-log",
            "--socket-mode", "0666", "--socket-group", "0", "--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8, 127.0.0.1",
        ])
        let fastcgi = try fastCGIConfiguration(options)
        #expect(fastcgi.bind == .unix(path: "/tmp/x.sock", mode: 0o666))
        #expect(fastcgi.socketGroup == "0")
        #expect(fastcgi.slowRequestThreshold == .milliseconds(2500))
        #expect(fastcgi.rootPath == "/app")
        #expect(fastcgi.workerThreads == 8)
        #expect(!fastcgi.accessLog)
        let http = httpConfiguration(options)
        #expect(http.rootPath == "/app")
        #expect(http.maxConcurrentRequests == 8)
        #expect(!http.accessLog)
        #expect(options.proxy.trustedProxies.description == "10.0.0.0/8,127.0.0.1")
        let (served, slowLog) = options.httpApplication(ASGIApp { _, _, _ in }, logger: GatewayLogging(level: .info).logger("t"))
        #expect(served is ProxyHeaders)
        #expect(slowLog?.threshold == .milliseconds(2500))
    }

    @Test func limitBelowThreadsOnlyLowersFastCGIWorkers() throws {
        #expect(try fastCGIConfiguration(parse(["--fastcgi", "127.0.0.1:9000", "--threads", "4", "--limit-concurrency", "100"])).workerThreads == 4)
        #expect(try fastCGIConfiguration(parse(["--fastcgi", "127.0.0.1:9000", "--limit-concurrency", "1"])).workerThreads == 1)
    }

    @Test func slowLogZeroTurnsItOff() throws {
        let options = try parse(["--fastcgi", "stdin", "--http", "127.0.0.1:0", "--slow-log", "0", "--access-log"])
        #expect(try fastCGIConfiguration(options).slowRequestThreshold == nil)
        #expect(options.httpApplication(ASGIApp { _, _, _ in }, logger: GatewayLogging(level: .info).logger("t")).slowLog == nil)
        #expect(options.serving.accessLog)
    }

    @Test func socketModeForms() throws {
        for (text, bits) in [("660", 0o660), ("0660", 0o660), ("0o600", 0o600), ("777", 0o777), ("0", 0)] {
            #expect(SocketMode(argument: text)?.bits == UInt16(bits), "\(text)")
        }
        for text in ["", "888", "0o", "1777", "4755", "rw-rw----", "-660", "0x1b6", "66O"] {
            #expect(SocketMode(argument: text) == nil, "\(text)")
        }
    }

    @Test(
        "Bad values and combinations are refused, saying what to do",
        arguments: [
            (["--slow-log=-1"], "--slow-log must be a number of seconds"),
            (["--slow-log", "nan"], "--slow-log must be a number of seconds"),
            (["--slow-log", "soon"], "--slow-log"),
            (["--limit-concurrency", "0"], "--limit-concurrency must be at least 1"),
            (["--root-path", "app"], "--root-path must start with '/'"),
            (["--root-path", "/app/"], "--root-path must start with '/'"),
            (["--root-path", "/"], "--root-path must start with '/'"),
            (["--root-path", "/a?b"], "plain path"),
            (["--fastcgi", "unix:/tmp/x.sock", "--socket-mode", "999"], "--socket-mode"),
            (["--fastcgi", "unix:/tmp/x.sock", "--socket-mode", "4660"], "--socket-mode"),
            (["--fastcgi", "unix:/tmp/x.sock", "--socket-group", "no-such-group-xyzzy"], "There is no group named 'no-such-group-xyzzy'"),
            (["--fastcgi", "127.0.0.1:9000", "--socket-mode", "660"], "--socket-mode applies to a FastCGI unix socket"),
            (["--fastcgi", "stdin", "--socket-group", "www-data"], "systemd: SocketMode=, SocketGroup="),
            (["--socket-group", "0"], "--socket-group applies to a FastCGI unix socket"),
            (["--fastcgi", "unix:/tmp/x.sock", "--proxy-headers"], "nginx passes the client's address itself"),
            (["--forwarded-allow-ips", "127.0.0.1"], "add --proxy-headers"),
            (["--proxy-headers", "--forwarded-allow-ips", "localhost"], "'localhost' is not an IP address"),
            (["--proxy-headers", "--forwarded-allow-ips", "10.0.0.1/8"], "10.0.0.0/8"),
            (["--proxy-headers", "--forwarded-allow-ips", ""], "empty"),
            (["--body-timeout=-1"], "--body-timeout must be a number of seconds"),
            (["--ws-ping-interval", "nan"], "--ws-ping-interval must be a number of seconds"),
            (["--min-body-rate=-5"], "--min-body-rate must be 0 or more"),
            (["--ws-max-size", "0"], "--ws-max-size must be at least 1"),
            (["--body-prefetch=-1"], "--body-prefetch must be 0 or more bytes"),
            (["--body-prefetch", "lots"], "--body-prefetch"),
        ]
    )
    func refusals(arguments: [String], message: String) {
        let text = refusal(arguments)
        #expect(text.contains(message), "\(arguments): \(text)")
    }

    @Test func proxyHeadersWithBothServersAppliesToHTTP() throws {
        let options = try parse(["--fastcgi", "unix:/tmp/x.sock", "--http", "127.0.0.1:0", "--proxy-headers"])
        #expect(options.proxy.trustedProxies == .localhost)
        #expect(options.httpApplication(ASGIApp { _, _, _ in }, logger: GatewayLogging(level: .info).logger("t")).application is ProxyHeaders)
    }

    /// `--help` names every option with text that explains it.
    @Test func helpExplainsEachOption() {
        let help = GatewayOptions.helpMessage(columns: 1000)
        for (option, explanation) in [
            ("--slow-log <SECONDS>", "PHP-FPM's slowlog"),
            ("--root-path <PATH>", "SCRIPT_NAME"),
            ("--limit-concurrency <N>", "503"),
            ("--socket-mode <OCTAL>", "listen.mode"),
            ("--socket-group <NAME>", "www-data"),
            ("--proxy-headers", "X-Forwarded-For"),
            ("--forwarded-allow-ips <LIST>", "10.0.0.0/8"),
            ("--access-log/--no-access-log", "one line per request"),
            ("--body-timeout <SECONDS>", "408"),
            ("--min-body-rate <BYTES>", "MinRequestBodyDataRate"),
            ("--body-prefetch <BYTES>", "before a blocking thread is taken"),
            ("--ws-max-size <BYTES>", "1009"),
            ("--ws-ping-interval <SECONDS>", "1011"),
        ] {
            // The option's entry: its line and the indented lines under it.
            guard let start = help.range(of: "  " + option) else {
                Issue.record("\(option) is missing from --help")
                continue
            }
            let rest = help[start.upperBound...]
            let end = rest.range(of: "\n  -")?.lowerBound ?? rest.range(of: "\n\n")?.lowerBound ?? rest.endIndex
            let entry = rest[..<end].split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            #expect(entry.contains(explanation), "\(option): \(entry)")
        }
        for title in ["SERVING (BOTH SERVERS)", "FASTCGI UNIX SOCKET", "HTTP BEHIND A REVERSE PROXY", "HTTP CLIENTS AND WEBSOCKETS"] {
            #expect(help.contains(title), "\(title)")
        }
    }
}
