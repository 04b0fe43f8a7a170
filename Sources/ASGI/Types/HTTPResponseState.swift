/// Checks that an application's HTTP send events come in the order the spec allows.
///
/// Servers, adapters and the test communicators feed every `send` through it: `http.response.start`
/// once, then `http.response.body` until one has `moreBody: false`, then trailers if announced,
/// then nothing. A breach throws ``ASGIProtocolError`` naming the event.
public struct HTTPResponseState: Sendable, Hashable {
    /// Where the response stands.
    public enum Phase: Sendable, Hashable {
        /// Nothing sent yet.
        case initial
        /// `http.response.start` sent; body may follow.
        case started
        /// The final body was sent and trailers were announced.
        case awaitingTrailers
        /// The response is complete.
        case complete
    }

    /// Where the response stands.
    public private(set) var phase: Phase = .initial
    private var trailersAnnounced = false
    private var pathsend = false

    /// Creates a state before any event.
    public init() {}

    /// Whether the response is complete.
    public var isComplete: Bool { phase == .complete }

    /// Checks `event` against the state and advances it.
    /// - Throws: ``ASGIProtocolError`` if the event is not allowed now.
    public mutating func validate(_ event: SendEvent) throws {
        switch (phase, event) {
        case (.initial, .httpResponseStart(_, _, let trailers)):
            trailersAnnounced = trailers
            phase = .started
        case (.initial, _):
            throw ASGIProtocolError.unexpected(event, "'http.response.start' must come first")
        case (.started, .httpResponseStart):
            throw ASGIProtocolError.unexpected(event, "the response has already started")
        case (.started, .httpResponseBody(_, let moreBody)):
            if pathsend { throw ASGIProtocolError.unexpected(event, "the body was already sent with 'http.response.pathsend'") }
            if !moreBody { phase = trailersAnnounced ? .awaitingTrailers : .complete }
        case (.started, .httpResponsePathsend):
            pathsend = true
            phase = trailersAnnounced ? .awaitingTrailers : .complete
        case (.started, .httpResponseTrailers):
            throw ASGIProtocolError.unexpected(event, "trailers come after the final 'http.response.body'")
        case (.awaitingTrailers, .httpResponseTrailers(_, let more)):
            if !more { phase = .complete }
        case (.awaitingTrailers, _):
            throw ASGIProtocolError.unexpected(event, "only 'http.response.trailers' may follow the final body when trailers were announced")
        case (.complete, _):
            throw ASGIProtocolError.unexpected(event, "the response is already complete")
        case (.started, _):
            throw ASGIProtocolError.unexpected(event, "it is not an HTTP response event")
        }
    }
}
