import ASGI
import ArgumentParser

/// The HTTP server behind a reverse proxy: uvicorn's `--proxy-headers` and `--forwarded-allow-ips`.
struct ProxyOptions: ParsableArguments {
    @Flag(
        help: ArgumentHelp(
            "HTTP behind a reverse proxy (nginx proxy_pass): take the client's address from X-Forwarded-For (the right-most address that is not a trusted proxy) and the scheme from X-Forwarded-Proto, for connections from --forwarded-allow-ips; headers from other peers are ignored. Over FastCGI nginx passes the client itself (REMOTE_ADDR, HTTPS; its real_ip module reads X-Forwarded-For)."
        )
    )
    var proxyHeaders = false

    @Option(
        name: .customLong("forwarded-allow-ips"),
        help: ArgumentHelp(
            "The proxies --proxy-headers believes: addresses and networks separated by commas (127.0.0.1,10.0.0.0/8,fd00::/8), or * for any peer. Default 127.0.0.1.",
            valueName: "LIST"
        ),
        transform: { try TrustedProxies($0) }
    )
    var forwardedAllowIPs: TrustedProxies?

    /// The proxies to trust when `--proxy-headers` is on.
    var trustedProxies: TrustedProxies { forwardedAllowIPs ?? .localhost }

    func validate() throws {
        if forwardedAllowIPs != nil, !proxyHeaders {
            throw ValidationError("--forwarded-allow-ips takes effect with --proxy-headers; add --proxy-headers.")
        }
    }
}
