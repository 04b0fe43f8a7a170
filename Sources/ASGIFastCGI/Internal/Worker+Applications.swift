import ASGI
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
    /// Runs a WSGI-style application directly on this thread; whether the connection must be cut
    /// (the response failed after it started).
    func serveWSGI(_ application: any WSGIApplication, _ request: FastCGIRequest) -> Bool {
        var environ: Environ
        do {
            environ = try Environ(
                scope: request.head.scope,
                input: WSGIInput(FastCGIInputSource(request)),
                errors: WSGIErrors(logger: core.logger),
                duplicateHeaderLimit: core.configuration.duplicateHeaderLimit
            )
        } catch {
            core.counters.rejectedRequests.add(1, ordering: .relaxed)
            let message = (error as? WSGIError)?.message ?? String(describing: error)
            core.logger.notice("Refused a request: \(message)")
            request.respondWithError(status: 400, message: "Bad Request: \(message)")
            return false
        }
        for (key, value) in request.head.extraVariables {
            environ.variables[key] = value   // never one the scope sets: those are parsed, not extras
        }

        let writer = WSGIResponseWriter(request: request)
        var body: (any WSGIBody)? = nil
        defer {
            body?.close()
            environ.errors.flush()
        }
        do {
            body = try application(environ, writer.startResponse)
            // An array's chunks are all known: no need to flush between them.
            let allKnown = body is [[UInt8]]
            while !writer.reachedContentLength, let chunk = try body?.next() {
                try writer.write(chunk, flush: !allKnown)
            }
            try writer.finish()
            // The web server gets the whole response before the body's close() runs (an array's
            // close() does nothing: the request ends right away anyway).
            if !allKnown { request.completeResponse() }
            return false
        } catch {
            return respondToFailure(error, request, kind: "WSGI")
        }
    }

    /// Runs an ASGI application with this thread as its sync parent; whether the connection must
    /// be cut.
    func serveASGI(_ application: any ASGIApplication, _ request: FastCGIRequest) -> Bool {
        let exchange = ASGIExchange(request: request)
        let scope = request.head.scope
        var failure: (any Error)? = nil
        do {
            try AsyncToSync.run {
                try await application(
                    scope: .http(scope),
                    receive: { try await exchange.receive() },
                    send: { event in try await exchange.send(event) }
                )
            }
        } catch {
            failure = error
        }
        exchange.close()
        if let failure {
            if exchange.isComplete {
                core.logger.error("ASGI application failed after completing its response: \(String(describing: failure))")
                return false
            }
            return respondToFailure(failure, request, kind: "ASGI")
        }
        if exchange.isComplete || request.isBroken { return false }
        if !request.headWritten {
            core.logger.error("ASGI application returned without a complete response: \(scope.method) \(request.head.requestURI).")
            request.respondWithError(status: 500, message: "Internal Server Error")
            return false
        }
        core.logger.error("ASGI application returned before its final 'http.response.body': \(scope.method) \(request.head.requestURI); cutting the response.")
        return true
    }

    /// Answers an application's failure: an error response when nothing was written yet, else a
    /// cut connection (the web server then sees the response as incomplete). Returns whether the
    /// connection must be cut.
    private func respondToFailure(_ error: any Error, _ request: FastCGIRequest, kind: String) -> Bool {
        if request.isBroken {
            core.logger.debug("\(kind) request ended after its client went away or it timed out: \(String(describing: error))")
            return true
        }
        if request.headWritten {
            core.logger.error("\(kind) application failed after its response started: \(String(describing: error)); cutting the response.")
            return true
        }
        if let wsgiError = error as? WSGIError {
            switch wsgiError.code {
            case .requestBodyTooLarge:
                core.counters.rejectedRequests.add(1, ordering: .relaxed)
                core.logger.notice("\(wsgiError.message)")
                request.respondWithError(status: 413, message: "Content Too Large: \(wsgiError.message)")
                return false
            case .clientDisconnected:
                core.logger.info("\(kind) request abandoned: \(wsgiError.message)")
                return true
            default:
                break
            }
        }
        core.logger.error("\(kind) application failed before its response started: \(String(describing: error))")
        request.respondWithError(status: 500, message: "Internal Server Error")
        return false
    }
}
