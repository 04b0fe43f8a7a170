import ASGI
import ASGIFastCGI
import ASGIHTTPServer
import ArgumentParser
import AsyncBridge
import Logging

/// How the serving, unix socket and proxy options shape the two servers' configurations and the
/// application the HTTP server runs.
extension GatewayOptions {
    /// Options that only make sense together with others.
    func validateServingCombinations() throws {
        let unixSocketOption = unixSocket.socketMode != nil ? "--socket-mode" : unixSocket.socketGroup != nil ? "--socket-group" : nil
        if let unixSocketOption, !(fastcgi?.hasPrefix("unix:") ?? false) {
            throw ValidationError(
                "\(unixSocketOption) applies to a FastCGI unix socket (--fastcgi unix:PATH); with stdin, the socket's owner (systemd: SocketMode=, SocketGroup=) sets it."
            )
        }
        if proxy.proxyHeaders, !servesHTTP {
            throw ValidationError(
                "--proxy-headers applies to the HTTP server (--http). Over FastCGI, nginx passes the client's address itself; use its real_ip module (set_real_ip_from, real_ip_header X-Forwarded-For)."
            )
        }
    }

    /// Applies the serving options to the FastCGI server's configuration.
    func applyServingOptions(to configuration: inout FastCGIConfiguration) {
        configuration.accessLog = serving.accessLog
        configuration.slowRequestThreshold = serving.slowRequestThreshold
        configuration.rootPath = serving.rootPath
        configuration.socketGroup = unixSocket.socketGroup
        // Worker threads are the FastCGI server's concurrency: a request beyond them waits in the
        // listen backlog instead of being answered 503 (see --limit-concurrency's help).
        if let limit = serving.limitConcurrency {
            configuration.workerThreads = min(configuration.workerThreads, limit)
        }
    }

    /// Applies the serving options to the HTTP server's configuration.
    func applyServingOptions(to configuration: inout HTTPServerConfiguration) {
        configuration.accessLog = serving.accessLog
        configuration.rootPath = serving.rootPath ?? ""
        configuration.maxConcurrentRequests = serving.limitConcurrency
        configuration.bodyReadTimeout = httpClients.bodyReadTimeout
        configuration.minimumBodyDataRate = httpClients.minimumBodyDataRate
        configuration.maxWebSocketMessageBytes = httpClients.wsMaxSize
        configuration.webSocketPingInterval = httpClients.webSocketPingInterval
    }

    /// A WSGI-style application as the HTTP server runs it: bridged by `WSGIToASGI` with `--max-body`
    /// and `--body-prefetch`, its blocking calls on `executor`.
    func wsgiToASGI(_ application: any WSGIApplication, executor: (any BlockingExecutor)?, logger: Logger) -> WSGIToASGI {
        WSGIToASGI(application, maxRequestBodyBytes: maxBody, bodyPrefetchBytes: httpClients.bodyPrefetch, executor: executor, logger: logger)
    }

    /// The application the HTTP server runs: `application` behind the slow-request log and the
    /// proxy headers, as the options ask. The slow-request log needs its watcher running; it is
    /// returned with it.
    func httpApplication(_ application: any ASGIApplication, logger: Logger) -> (application: any ASGIApplication, slowLog: SlowRequestLog?) {
        var served = application
        var slowLog: SlowRequestLog? = nil
        if let threshold = serving.slowRequestThreshold {
            let log = SlowRequestLog(served, threshold: threshold, logger: logger)
            slowLog = log
            served = log
        }
        // Outermost, so the slow-request log and the application see the client the proxy
        // reports. (The server's access line, written from the socket, names the proxy.)
        if proxy.proxyHeaders {
            served = ProxyHeaders(served, trustedProxies: proxy.trustedProxies)
        }
        return (served, slowLog)
    }
}
