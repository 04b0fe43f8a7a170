@_spi(ASGIFrontend) import ASGI
import AsyncBridge
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// One HTTP/1.1 connection: reads request heads in order (keep-alive and pipelining), serves each
/// request by calling the application in this task, and keeps the connection usable between them.
///
/// The inbound stream has one reader at a time: this loop between requests, the application's
/// `receive()` while a request's body is being read (``HTTPExchange`` hands the turn over).
final class HTTPConnection: @unchecked Sendable {
    let server: ServerContext
    let channel: any Channel
    private let writer: ChannelWriter<HTTPServerResponsePart>
    let client: ASGIAddress?
    let serverAddress: ASGIAddress?
    /// Counted in the connection limit: past it every request gets 503.
    let admitted: Bool
    private let reader: InboundReader<HTTPServerRequestPart>

    private struct Shared {
        var closed = false
        var current: HTTPExchange?
    }
    private let shared = Mutex(Shared())

    init(
        server: ServerContext,
        channel: any Channel,
        inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>,
        admitted: Bool
    ) {
        self.server = server
        self.channel = channel
        self.writer = ChannelWriter(channel: channel)
        self.reader = InboundReader(inbound)
        self.admitted = admitted
        self.client = channel.remoteAddress.flatMap(ASGIAddress.init(_:))
        self.serverAddress = channel.localAddress.flatMap(ASGIAddress.init(_:))
    }

    /// The next part from the client, read in the calling task (the connection's own).
    /// Only the holder of the read turn calls it.
    func nextPart() async throws -> HTTPServerRequestPart? {
        try await reader.next()
    }

    /// The next part from the client for the application: a cancelled caller gets
    /// `CancellationError`, one that waited `timeout` gets ``InboundReadTimeout``, and the part
    /// is kept for the next read.
    func nextPartShielded(timeout: Duration? = nil) async throws -> HTTPServerRequestPart? {
        try await reader.nextShielded(timeout: timeout, on: channel.eventLoop)
    }

    /// Whether a request is being served (between its head and its answer).
    var hasRequestInFlight: Bool {
        shared.withLock { $0.current != nil }
    }

    /// Whether the channel has closed.
    var isClosed: Bool {
        shared.withLock { $0.closed }
    }

    /// Called once when the channel closes: the current request learns its client is gone.
    func channelClosed() {
        let current = shared.withLock { shared -> HTTPExchange? in
            shared.closed = true
            return shared.current
        }
        writer.channelClosed()
        current?.clientDisconnected()
    }

    /// Writes response parts and flushes; waits while too much is still on its way to the client.
    /// - Throws: `ClientDisconnectedError` when the connection is gone.
    func write(_ parts: [HTTPServerResponsePart]) async throws {
        var bytes = 0
        for case .body(let body) in parts { bytes += body.readableBytes }
        try await writer.write(parts, bytes: bytes)
    }

    /// Writes response parts and waits until they reached the socket (a file region, whose file
    /// must stay open until then).
    /// - Throws: `ClientDisconnectedError` when the connection is gone.
    func writeAndWait(_ parts: [HTTPServerResponsePart], bytes: Int) async throws {
        try await writer.write(parts, bytes: bytes, waitForCompletion: true)
    }

    /// Closes the connection at once (an aborted response): what was not yet written is dropped.
    func abort() {
        channel.close(promise: nil)
    }

    /// Shuts the sending side down once everything written so far has reached the socket, so a
    /// response followed by a close is never cut short (a full close drops pending writes).
    func closeOutput() async {
        try? await channel.close(mode: .output).get()
    }

    // MARK: Serving

    /// Serves requests until the client or the server ends the connection.
    func serve(firstHead: HTTPRequestHead? = nil) async {
        do {
            var head = firstHead
            if head == nil { head = try await nextHead() }
            let cap = server.configuration.maxRequestsPerConnection
            var served = 0
            while let current = head {
                served += 1
                guard try await serveRequest(current, last: cap.map { served >= $0 } ?? false) else { break }
                head = try await nextHead()
            }
        } catch {
            server.logger.trace("Connection ended: \(String(describing: error))")
        }
    }

    /// Reads up to the next request head; `nil` when the client has closed the connection.
    private func nextHead() async throws -> HTTPRequestHead? {
        while let part = try await nextPart() {
            if case .head(let head) = part { return head }
        }
        return nil
    }

    /// Serves one request (`last`: the connection's last, by `maxRequestsPerConnection`); returns
    /// whether the connection may carry another.
    private func serveRequest(_ head: HTTPRequestHead, last: Bool) async throws -> Bool {
        let started = ContinuousClock.now
        let id = RequestID()
        let request = RequestHead(head)

        // Limits the server answers for the application.
        let hasBody = request.isChunked || (request.contentLength ?? 0) > 0
        if !admitted {
            await answer(.serviceUnavailable, head: head, id: id, started: started, close: true)
            if hasBody { await discardUntilClientCloses() }
            return false
        }
        var asgiHead = request.asgiHead(head, rootPath: server.rootPath, client: client, server: serverAddress)
        do {
            try asgiHead.applyRequestRules()
        } catch {
            server.logger.notice("Refused a request: \(error.message)")
            await answer(error.response, head: head, id: id, started: started, close: true)
            if hasBody { await discardUntilClientCloses() }
            return false
        }
        if let oversized = request.oversizedContentLength {
            let refusal = PlainResponse.contentLengthTooLarge(oversized)
            server.logger.notice("Refused a request: \(refusal.text)")
            await answer(refusal, head: head, id: id, started: started, close: true)
            await discardUntilClientCloses()
            return false
        }
        if let refusal = PlainResponse.checkDeclaredBody(request.contentLength, limit: server.configuration.maxRequestBodyBytes) {
            server.logger.notice("Refused a request: \(refusal.text)")
            await answer(refusal, head: head, id: id, started: started, close: true)
            await discardUntilClientCloses()
            return false
        }
        guard server.admitRequest() else {
            server.logger.warning("Concurrency limit reached; answered 503.")
            await answer(.serviceUnavailable, head: head, id: id, started: started, close: true)
            if hasBody { await discardUntilClientCloses() }
            return false
        }
        defer { server.requestDone() }

        let scope = asgiHead.httpScope(state: server.stateSnapshot, extensions: ServerContext.httpExtensions)
        // A request without a body: read its end now, in this task, so that the application's
        // `receive()` never has to touch the connection's stream for it.
        var bodyDone = false
        if !hasBody {
            guard case .end = try await nextPart() else { return false }
            bodyDone = true
        }
        let exchange = HTTPExchange(connection: self, head: head, request: request, bodyDone: bodyDone, lastOnConnection: last)
        let alreadyClosed = shared.withLock { shared -> Bool in
            shared.current = exchange
            return shared.closed
        }
        if alreadyClosed { exchange.clientDisconnected() }

        var failure: (any Error)?
        do {
            let application = server.application
            try await LocalScope.run {
                try await application(
                    scope: .http(scope),
                    receive: { try await exchange.receive() },
                    send: { try await exchange.send($0) }
                )
            }
        } catch {
            failure = error
        }
        let outcome = await exchange.finish(failure: failure, method: head.method, path: scope.path)
        shared.withLock { $0.current = nil }

        var keepAlive = outcome.keepAlive
        if keepAlive && !exchange.bodyConsumed {
            keepAlive = try await drainBody(exchange)
        }
        let duration = ContinuousClock.now - started
        server.metrics.requestEnded(status: outcome.status ?? 0, nanoseconds: duration.nanoseconds)
        accessLog(head: head, id: id, status: outcome.status, bytes: outcome.bytes, duration: duration, aborted: outcome.aborted)
        if !keepAlive && !isClosed {
            server.logger.trace("Closing the connection after \(head.method.rawValue) \(head.uri).")
            await closeOutput()
            if !exchange.bodyConsumed && exchange.takeReadTurnForDiscard() {
                await discardUntilClientCloses()
            }
        }
        return keepAlive && !isClosed
    }

    /// Reads and drops what the application left of the request body.
    private func drainBody(_ exchange: HTTPExchange) async throws -> Bool {
        guard exchange.takeReadTurnForDrain() else { return false }
        var total = exchange.bodyBytesRead
        let limit = server.configuration.maxRequestBodyBytes
        while let part = try await nextPart() {
            switch part {
            case .body(let buffer):
                total += buffer.readableBytes
                if let limit, total > limit { return false }
            case .end:
                return true
            case .head:
                return false
            }
        }
        return false
    }

    /// After answering and shutting the sending side: read and drop what the client still sends
    /// (the rest of a refused body) until it closes. Closing with unread data would make the
    /// kernel reset the connection, and a client still uploading could lose the answer. The
    /// linger is bounded, whatever the client sends (more body, more pipelined requests): it ends
    /// after ``ServerDefaults/lingerTime``, or when nothing came for the idle timeout, and the
    /// connection is then closed.
    private func discardUntilClientCloses() async {
        let deadline = ContinuousClock.now + ServerDefaults.lingerTime
        let quiet = server.configuration.idleTimeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            do {
                guard try await nextPartShielded(timeout: min(left, quiet)) != nil else { return }
            } catch {
                break
            }
        }
        server.logger.debug("Closing a connection whose client kept sending after its answer.")
        abort()
    }

    /// Answers a request without calling the application.
    private func answer(_ response: PlainResponse, head: HTTPRequestHead, id: RequestID, started: ContinuousClock.Instant, close: Bool) async {
        try? await write(ResponseHead.plain(response, version: head.version, close: close, serverHeader: server.configuration.serverHeader))
        let duration = ContinuousClock.now - started
        server.metrics.requestEnded(status: response.status, nanoseconds: duration.nanoseconds)
        accessLog(head: head, id: id, status: response.status, bytes: response.body.count, duration: duration, aborted: false)
        if close { await closeOutput() }
    }

    func accessLog(head: HTTPRequestHead, id: RequestID, status: Int?, bytes: Int?, duration: Duration, aborted: Bool) {
        server.logAccess(id: id, head: head, client: client, status: status, bytes: bytes, duration: duration, aborted: aborted)
    }
}

extension ASGIAddress {
    /// The scope address of a socket address (`nil` for addresses ASGI has no form for).
    init?(_ address: SocketAddress) {
        switch address {
        case .v4, .v6:
            guard let ip = address.ipAddress else { return nil }
            self.init(host: ip, port: address.port)
        case .unixDomainSocket:
            self.init(host: address.pathname ?? "", port: nil)
        }
    }
}

extension Duration {
    /// The span in whole nanoseconds.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
