package import Logging

extension WSGIDriver {
    /// How serving one request ended, for the frontend's counters and connection.
    package enum Outcome: Sendable, Equatable {
        /// The application's response went out complete.
        case completed
        /// The driver answered for the application (400 environ, 413 body, 500 failure).
        case answered(status: Int)
        /// The client went away (or the server stopped waiting); nothing more can be sent.
        case clientGone
        /// The application failed after its response started: the response was cut.
        case failedAfterStart
    }

    /// Serves one request: builds the environ from `scope` (answering 400 when it cannot be
    /// built), calls the application, iterates its body, calls `close()` on every path, answers
    /// for the application when it fails before its response started.
    ///
    /// Runs on the blocking thread the frontend gives the application.
    /// - Parameters:
    ///   - extraVariables: CGI variables the scope has no place for (FastCGI parameters).
    ///   - logger: where failures and `wsgi.errors` go.
    package static func serve(
        _ application: any WSGIApplication,
        scope: HTTPScope,
        input: WSGIInput,
        extraVariables: [(name: String, value: String)] = [],
        duplicateHeaderLimit: Int?,
        sink: any WSGIResponseSink,
        logger: Logger
    ) -> Outcome {
        var environ: Environ
        do {
            environ = try Environ(scope: scope, input: input, errors: WSGIErrors(logger: logger), duplicateHeaderLimit: duplicateHeaderLimit)
        } catch {
            let message = (error as? WSGIError)?.message ?? String(describing: error)
            logger.notice("Refused a request: \(message)")
            return answer(.badRequest(message), sink: sink)
        }
        for (name, value) in extraVariables where environ.variables[name] == nil {
            environ.variables[name] = value
        }
        return run(application, environ: environ, sink: sink, logger: logger)
    }

    /// Calls the application with `environ` and drives its response into `sink`.
    package static func run(_ application: any WSGIApplication, environ: Environ, sink: any WSGIResponseSink, logger: Logger) -> Outcome {
        let driver = WSGIDriver(sink: sink, requestMethod: environ["REQUEST_METHOD"] ?? "GET")
        var environ = environ
        environ.serverHooks = WSGIServerHooks(
            completeResponse: { try driver.completeResponse() },
            onClientGone: { driver.onClientGone($0) },
            writeLast: { chunk in
                try driver.write(chunk, flush: false)
                try driver.finish(flush: true)
            }
        )
        var body: (any WSGIBody)? = nil
        defer {
            body?.close()
            environ.errors.flush()
        }
        do {
            body = try application(environ, driver.startResponse)
            if var file = body as? WSGIFileBody {
                try driver.send(&file)
                body = file
                return .completed
            }
            // An in-memory body goes out in one piece with the end of the call (nothing is left to
            // run but a trivial close()); a streamed one chunk by chunk, and its end at once.
            let inMemory = body is [[UInt8]]
            let closesTrivially = inMemory || (body as? WSGIClosureBody)?.closesTrivially == true
            while !driver.isSatisfied, let chunk = try body?.next() {
                try driver.write(chunk, flush: !inMemory && !driver.completes(with: chunk))
            }
            try driver.finish(flush: !closesTrivially)
            return .completed
        } catch {
            return driver.failed(error, sink: sink, logger: logger)
        }
    }

    /// Answers an application's failure: an error response when nothing went out yet, else a cut
    /// response (or nothing more, when the response was already complete).
    private func failed(_ error: any Error, sink: any WSGIResponseSink, logger: Logger) -> Outcome {
        if error is ClientDisconnectedError || sink.isClientGone {
            logger.debug("Request ended after its client went away or the server stopped waiting: \(String(describing: error))")
            return .clientGone
        }
        if ended {
            logger.error("Application failed after completing its response: \(String(describing: error))")
            return .completed
        }
        if headersSent {
            logger.error("Application failed after its response started: \(String(describing: error)); cutting the response.")
            sink.fail(error)
            return .failedAfterStart
        }
        if let wsgiError = error as? WSGIError, wsgiError.code == .requestBodyTooLarge {
            logger.notice("\(wsgiError.message)")
            return Self.answer(PlainResponse(status: 413, detail: Self.lowercasingFirst(wsgiError.message)), sink: sink)
        }
        logger.error("Application failed before its response started: \(String(describing: error))")
        return Self.answer(.internalServerError, sink: sink)
    }

    private static func answer(_ response: PlainResponse, sink: any WSGIResponseSink) -> Outcome {
        do {
            try sink.answer(response)
            return .answered(status: response.status)
        } catch {
            return .clientGone
        }
    }

    private static func lowercasingFirst(_ text: String) -> String {
        var text = text
        if text.hasSuffix(".") { text.removeLast() }
        return text.prefix(1).lowercased() + text.dropFirst()
    }
}
