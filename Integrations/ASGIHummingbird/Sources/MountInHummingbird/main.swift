// A legacy, blocking WSGI-style application mounted under /legacy in a Hummingbird 2 application,
// beside native async routes, and an ASGI chat application answering WebSockets under /chat.
// Run: `swift run MountInHummingbird` (in Integrations/ASGIHummingbird), then try
// http://127.0.0.1:8080/hello, http://127.0.0.1:8080/legacy/anything?x=1 and a WebSocket client
// on ws://127.0.0.1:8080/chat (`python3 -m websockets ws://127.0.0.1:8080/chat`).
import ASGI
import ASGIHummingbird
import Hummingbird
import HummingbirdWebSocket

/// The legacy handler: blocking code that only knows the CGI environ.
let legacy = WSGIApp { environ, startResponse in
    let script = environ["SCRIPT_NAME"] ?? ""
    let path = environ["PATH_INFO"] ?? ""
    let query = environ["QUERY_STRING"] ?? ""
    _ = try startResponse("200 OK", [("Content-Type", "text/plain; charset=utf-8")], nil)
    return [Array("legacy app: SCRIPT_NAME=\(script) PATH_INFO=\(path) QUERY_STRING=\(query)\n".utf8)]
}

/// An ASGI application that echoes WebSocket messages (and refuses connections to /chat/closed).
let chat = ASGIApp { scope, receive, send in
    guard case .websocket(let websocket) = scope else {
        if case .http = scope {
            try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/plain")]))
            try await send(.httpResponseBody(body: Array("connect with a WebSocket client\n".utf8)))
        }
        return
    }
    guard case .websocketConnect = try await receive() else { return }
    if websocket.path.hasSuffix("/closed") {
        try await send(.websocketClose())  // 403
        return
    }
    try await send(.websocketAccept())
    while case .websocketReceive(let bytes, let text) = try await receive() {
        if let text { try await send(.websocketSend(text: "you said: \(text)")) }
        if let bytes { try await send(.websocketSend(bytes: bytes)) }
    }
}

let router = Router()
router.get("/hello") { _, _ in "native Hummingbird route\n" }
router.mount("/legacy", WSGIToASGI(legacy))
router.mount("/chat", chat)

var port = 8080
if let index = CommandLine.arguments.firstIndex(of: "--port"), index + 1 < CommandLine.arguments.count,
    let value = Int(CommandLine.arguments[index + 1])
{
    port = value
}
let app = Application(
    router: router,
    server: .http1WebSocketUpgrade(mounting: [ASGIWebSocketMount("/chat", chat)]),
    configuration: .init(address: .hostname("127.0.0.1", port: port))
)
try await app.runService()
