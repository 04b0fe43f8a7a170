// The embedded default: `make run` builds this and serves it on http://127.0.0.1:8080.
// `swift run HelloLegacy --help` lists the options (FastCGI behind nginx, threads, limits…).
import Gateway

try await Gateway.run(HelloLegacy.app)
