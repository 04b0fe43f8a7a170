/// Whether a server runs the application's `lifespan` scope around serving.
public enum LifespanMode: String, Sendable, Hashable, CaseIterable {
    /// Run it; if the application raises on the lifespan scope before startup completes, log that
    /// lifespan looks unsupported and serve without it (the ASGI spec's rule).
    case auto
    /// Run it; an application error on the lifespan scope stops the server.
    case on
    /// Do not run it; request scopes then carry no `state`.
    case off
}
