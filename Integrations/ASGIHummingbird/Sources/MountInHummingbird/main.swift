// A legacy, blocking WSGI-style application mounted under /legacy in a Hummingbird 2 application,
// beside native async routes. Run: `swift run MountInHummingbird` (in Integrations/ASGIHummingbird),
// then try http://127.0.0.1:8080/hello and http://127.0.0.1:8080/legacy/anything?x=1
import ASGI
import ASGIHummingbird
import Hummingbird

/// The legacy handler: blocking code that only knows the CGI environ.
let legacy = WSGIApp { environ, startResponse in
    let script = environ["SCRIPT_NAME"] ?? ""
    let path = environ["PATH_INFO"] ?? ""
    let query = environ["QUERY_STRING"] ?? ""
    _ = try startResponse("200 OK", [("Content-Type", "text/plain; charset=utf-8")], nil)
    return [Array("legacy app: SCRIPT_NAME=\(script) PATH_INFO=\(path) QUERY_STRING=\(query)\n".utf8)]
}

let router = Router()
router.get("/hello") { _, _ in "native Hummingbird route\n" }
router.mount("/legacy", WSGIToASGI(legacy))

var port = 8080
if let index = CommandLine.arguments.firstIndex(of: "--port"), index + 1 < CommandLine.arguments.count,
   let value = Int(CommandLine.arguments[index + 1]) {
    port = value
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
