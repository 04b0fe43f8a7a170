import ASGI
import ASGIHTTPServer

/// The WSGI-style application a FastCGI worker serves directly on its threads: each request
/// recorded in the scoreboard until its body is closed, and the status and ping paths answered
/// from it.
///
/// An in-memory body (an array of chunks) is complete when the application returns, so it is
/// handed on as is (the servers send it without flushing between chunks); any other body is
/// wrapped so that its `close()` ends the record. Behind ``WSGIToASGI`` (over HTTP) the status and
/// ping paths are answered before it (`endpoints` is `nil`), and `busy` (when set) counts the
/// requests on the blocking threads for the HTTP server's ``AcceptPause``.
struct TrackedWSGIApplication: WSGIApplication {
    let application: any WSGIApplication
    let tracker: RequestTracker
    let endpoints: StatusEndpoints?
    var busy: AcceptPause? = nil

    func callAsFunction(_ environ: Environ, _ startResponse: @escaping StartResponse) throws -> any WSGIBody {
        let scriptName = environ["SCRIPT_NAME"] ?? ""
        let pathInfo = environ["PATH_INFO"] ?? ""
        if let endpoints, !endpoints.isEmpty,
            let answer = endpoints.answer(path: scriptName.isEmpty ? pathInfo : scriptName + pathInfo, query: (environ["QUERY_STRING"] ?? "").utf8)
        {
            _ = try startResponse(
                "200 OK",
                [
                    ("Content-Type", answer.contentType), ("Content-Length", String(answer.body.count)),
                    ("Cache-Control", "no-store"),
                ],
                nil
            )
            return [answer.body]
        }
        let ticket = tracker.begin(method: environ["REQUEST_METHOD"] ?? "GET", prefix: scriptName, path: pathInfo)
        busy?.workStarted()
        let body: any WSGIBody
        do {
            body = try application(environ, startResponse)
        } catch {
            end(ticket)
            throw error
        }
        if body is [[UInt8]] {
            end(ticket)
            return body
        }
        return TrackedBody(body: body, tracked: self, ticket: ticket)
    }

    /// Ends the request's record (and its count as busy work).
    fileprivate func end(_ ticket: RequestTracker.Ticket) {
        tracker.end(ticket)
        busy?.workFinished()
    }
}

/// A body whose `close()` (which the server calls once, on every path) ends the request's record.
private struct TrackedBody: WSGIBody {
    var body: any WSGIBody
    let tracked: TrackedWSGIApplication
    let ticket: RequestTracker.Ticket

    mutating func next() throws -> [UInt8]? {
        try body.next()
    }

    mutating func close() {
        body.close()
        tracked.end(ticket)
    }
}
