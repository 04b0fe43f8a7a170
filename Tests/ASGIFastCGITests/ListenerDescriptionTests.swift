import Testing

@testable import ASGIFastCGI

/// A worker serving its supervisor's socket logs the path clients use, not the temporary name
/// the socket was bound under before it was renamed into place.
@Suite("FastCGI: the inherited socket's address in logs")
struct ListenerDescriptionTests {
    @Test func theTemporaryBindNameReadsAsThePublicPath() {
        #expect(Listener.publicPath(bound: "/run/app/.app.sock.4242.tmp") == "/run/app/app.sock")
        #expect(Listener.publicPath(bound: "/run/app/app.sock") == "/run/app/app.sock")
        #expect(Listener.publicPath(bound: "/run/app/.hidden.tmp") == "/run/app/.hidden.tmp")
        #expect(Listener.publicPath(bound: "/run/app/.app.x.tmp") == "/run/app/.app.x.tmp")
    }
}
