@_spi(ASGIFrontend) import ASGI
import AsyncBridge
import Logging
import Synchronization

/// The request body of a FastCGI request as `wsgi.input` reads it: from libfcgi's stream, as the
/// application asks for it.
final class FastCGIInputSource: WSGIInputSource {
    let request: FastCGIRequest

    init(_ request: FastCGIRequest) {
        self.request = request
    }

    func read(upTo maxBytes: Int) throws -> [UInt8] {
        try request.read(upTo: maxBytes)
    }
}

extension Worker {
    /// Serves the request with the server's application on this thread, through the package's WSGI
    /// driver (an ASGI application through ``ASGI/ASGIToWSGI``, with this thread as its sync parent).
    /// Returns whether the connection must be cut (the client is gone, or the response failed
    /// after it started).
    func serveApplication(_ request: FastCGIRequest) -> Bool {
        let sink = FastCGIResponseSink(request: request)
        // A scope of the request's own for `Local` values, dropped afterwards: this thread serves
        // the next request with none of them (the HTTP server opens one per request too).
        let outcome = LocalScope.runFresh {
            WSGIDriver.serve(
                core.servedApplication,
                scope: request.head.scope,
                input: WSGIInput(FastCGIInputSource(request)),
                extraVariables: request.head.extraVariables,
                duplicateHeaderLimit: core.configuration.duplicateHeaderLimit,
                sink: sink,
                logger: core.logger
            )
        }
        switch outcome {
        case .completed:
            return false
        case .answered(let status):
            if status == 400 || status == 413 { core.counters.rejectedRequests.add(1, ordering: .relaxed) }
            return false
        case .clientGone, .failedAfterStart:
            return true
        }
    }
}
