// Minimal Hummingbird 2 app: GET / -> "hello" (text/plain; charset=utf-8, 5 bytes) on 127.0.0.1:PORT.
import Hummingbird

let port = Int(CommandLine.arguments.dropFirst().first ?? "18281") ?? 18281
let router = Router()
router.get("/") { _, _ -> String in "hello" }
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
