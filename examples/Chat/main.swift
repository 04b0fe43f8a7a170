// A WebSocket chat room as an ASGI application: every text message a client sends is broadcast
// to all connected clients. `GET /` serves a small page that connects to `/ws`.
//
//   swift run Chat [--port 8080]      then open http://127.0.0.1:8080/ in two browser tabs
import ASGI
import ASGIHTTPServer
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The connected clients, each a stream of messages to send it.
final class Room: Sendable {
    private let members = Mutex<[Int: AsyncStream<String>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    func join() -> (id: Int, messages: AsyncStream<String>) {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(100))
        members.withLock { $0[id] = continuation }
        return (id, stream)
    }

    func leave(_ id: Int) {
        members.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    func broadcast(_ message: String) {
        for member in members.withLock({ Array($0.values) }) { member.yield(message) }
    }
}

let page = """
    <!doctype html><meta charset="utf-8"><title>Chat</title>
    <ul id="log"></ul><form id="f"><input id="m" autocomplete="off"><button>Send</button></form>
    <script>
    const ws = new WebSocket(`ws://${location.host}/ws`);
    ws.onmessage = e => { const li = document.createElement("li"); li.textContent = e.data; log.appendChild(li); };
    f.onsubmit = e => { e.preventDefault(); ws.send(m.value); m.value = ""; };
    </script>
    """

let room = Room()
let chat = ASGIApp { scope, receive, send in
    switch scope {
    case .lifespan:
        while true {
            switch try await receive() {
            case .lifespanStartup: try await send(.lifespanStartupComplete)
            case .lifespanShutdown:
                try await send(.lifespanShutdownComplete)
                return
            default: continue
            }
        }
    case .http:
        let body = Array(page.utf8)
        try await send(.httpResponseStart(status: 200, headers: [("content-type", "text/html; charset=utf-8")]))
        try await send(.httpResponseBody(body: body))
    case .websocket(let websocket):
        guard case .websocketConnect = try await receive(), websocket.path == "/ws" else {
            try await send(.websocketClose())
            return
        }
        try await send(.websocketAccept())
        let (id, messages) = room.join()
        defer { room.leave(id) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in messages { try await send(.websocketSend(text: message)) }
            }
            loop: while true {
                switch try await receive() {
                case .websocketReceive(_, let text?): room.broadcast(text)
                case .websocketDisconnect: break loop
                default: continue
                }
            }
            group.cancelAll()
        }
    }
}

var arguments = CommandLine.arguments.dropFirst()
var port = 8080
while let argument = arguments.popFirst() {
    guard argument == "--port", let value = arguments.popFirst().flatMap({ Int($0) }) else {
        print("usage: Chat [--port N]\n", terminator: "")
        exit(2)
    }
    port = value
}

let logger = Logger(label: "Chat")
let server = ASGIHTTPServer(application: chat, configuration: HTTPServerConfiguration(port: port), logger: logger)
try await server.runService()
