/// An event the application receives from the server (`await receive()`).
public enum ReceiveEvent: Sendable, Hashable {
    /// `http.request`: a piece of the request body; `moreBody` says whether more follows.
    case httpRequest(body: [UInt8] = [], moreBody: Bool = false)
    /// `http.disconnect`: the client went away, or the response is complete.
    case httpDisconnect
    /// `websocket.connect`: the client wants to connect; answer with accept or close.
    case websocketConnect
    /// `websocket.receive`: a message; exactly one of `bytes` and `text` is set.
    case websocketReceive(bytes: [UInt8]? = nil, text: String? = nil)
    /// `websocket.disconnect`: the connection closed (`code` 1005 when none was received).
    case websocketDisconnect(code: Int = 1005, reason: String = "")
    /// `lifespan.startup`: the server is starting.
    case lifespanStartup
    /// `lifespan.shutdown`: the server is stopping.
    case lifespanShutdown

    /// The spec's `type` string, e.g. `"http.request"`.
    public var type: String {
        switch self {
        case .httpRequest: return "http.request"
        case .httpDisconnect: return "http.disconnect"
        case .websocketConnect: return "websocket.connect"
        case .websocketReceive: return "websocket.receive"
        case .websocketDisconnect: return "websocket.disconnect"
        case .lifespanStartup: return "lifespan.startup"
        case .lifespanShutdown: return "lifespan.shutdown"
        }
    }
}

/// An event the application sends to the server (`try await send(event)`).
public enum SendEvent: Sendable, Hashable {
    /// `http.response.start`: status and headers; `trailers` announces `http.response.trailers`.
    case httpResponseStart(status: Int, headers: ASGIHeaders = [], trailers: Bool = false)
    /// `http.response.body`: a piece of the response body; `moreBody` says whether more follows.
    case httpResponseBody(body: [UInt8] = [], moreBody: Bool = false)
    /// `http.response.trailers` (extension): trailing headers after the final body.
    case httpResponseTrailers(headers: ASGIHeaders = [], moreTrailers: Bool = false)
    /// `http.response.pathsend` (extension): the body is the file at `path` (absolute).
    case httpResponsePathsend(path: String)
    /// `websocket.accept`: accept the connection, optionally choosing a subprotocol.
    case websocketAccept(subprotocol: String? = nil, headers: ASGIHeaders = [])
    /// `websocket.send`: a message; exactly one of `bytes` and `text` is set.
    case websocketSend(bytes: [UInt8]? = nil, text: String? = nil)
    /// `websocket.close`: close (before accept: deny with HTTP 403).
    case websocketClose(code: Int = 1000, reason: String = "")
    /// `websocket.http.response.start` (extension): deny the handshake with this response.
    case websocketHTTPResponseStart(status: Int, headers: ASGIHeaders = [])
    /// `websocket.http.response.body` (extension): the denial response's body.
    case websocketHTTPResponseBody(body: [UInt8] = [], moreBody: Bool = false)
    /// `lifespan.startup.complete`.
    case lifespanStartupComplete
    /// `lifespan.startup.failed`: the server logs `message` and exits.
    case lifespanStartupFailed(message: String = "")
    /// `lifespan.shutdown.complete`.
    case lifespanShutdownComplete
    /// `lifespan.shutdown.failed`.
    case lifespanShutdownFailed(message: String = "")

    /// The spec's `type` string, e.g. `"http.response.start"`.
    public var type: String {
        switch self {
        case .httpResponseStart: return "http.response.start"
        case .httpResponseBody: return "http.response.body"
        case .httpResponseTrailers: return "http.response.trailers"
        case .httpResponsePathsend: return "http.response.pathsend"
        case .websocketAccept: return "websocket.accept"
        case .websocketSend: return "websocket.send"
        case .websocketClose: return "websocket.close"
        case .websocketHTTPResponseStart: return "websocket.http.response.start"
        case .websocketHTTPResponseBody: return "websocket.http.response.body"
        case .lifespanStartupComplete: return "lifespan.startup.complete"
        case .lifespanStartupFailed: return "lifespan.startup.failed"
        case .lifespanShutdownComplete: return "lifespan.shutdown.complete"
        case .lifespanShutdownFailed: return "lifespan.shutdown.failed"
        }
    }
}
