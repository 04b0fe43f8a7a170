/// A ``StatelessServer`` subclass left out a method it has to provide.
public enum StatelessServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `handle()` was not overridden.
    case handleNotImplemented
    /// `applicationSend(scope:message:)` was not overridden.
    case applicationSendNotImplemented

    /// The message, saying what to do.
    public var description: String {
        switch self {
        case .handleNotImplemented:
            return "StatelessServer subclasses must override handle(): it reads the incoming messages "
                + "and passes them to getOrCreateApplicationInstance(scopeID:scope:)."
        case .applicationSendNotImplemented:
            return "StatelessServer subclasses must override applicationSend(scope:message:): it delivers "
                + "what an application instance sends to the party its scope names."
        }
    }
}
