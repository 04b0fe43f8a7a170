@_spi(ASGIFrontend) import ASGI
import CFastCGI
import Glibc
import Logging
import Synchronization

/// One worker thread: takes the next connection from the listener (a new one, or an idle kept
/// one the web server sent a request on), reads a request from it with `FCGX_Accept_r`, serves it
/// on this thread, and hands the connection back to the listener when the web server asked to
/// keep it (`FCGI_KEEP_CONN`): an idle kept connection holds no worker.
///
/// Waiting is the listener's (one worker at a time, woken at shutdown); libfcgi gets the
/// connection in the request's `ipcFd` with `listen_sock` -1, so `FCGX_Accept_r` only reads the
/// request (and never blocks in `accept`) and closes the connection itself on a protocol error.
/// `detached` is set before each libfcgi call that may close the connection so that it closes at
/// once, without libfcgi's two-second linger, except when the web server may still be sending a
/// body we did not read.
final class Worker: @unchecked Sendable {
    let index: Int
    let core: ServerCore
    let listener: Listener
    private let raw: UnsafeMutablePointer<FCGX_Request>
    private let isASGI: Bool
    /// The look at each request's records before libfcgi reads them, and its buffer.
    private let preflight: ParamsPreflight
    private let peekBuffer: UnsafeMutableRawBufferPointer

    /// Unread body larger than this is not drained to keep a connection: it is closed instead.
    private static let drainLimit = 256 * 1024

    init(index: Int, core: ServerCore, listener: Listener) {
        self.index = index
        self.core = core
        self.listener = listener
        if case .asgi = core.application { isASGI = true } else { isASGI = false }
        // libfcgi keeps pointers to the request in its streams: it must not move.
        self.raw = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        let configuration = core.configuration
        preflight = ParamsPreflight(limit: configuration.maxParamsBytes + 8 * configuration.maxParamsCount)
        peekBuffer = .allocate(byteCount: ParamsPreflight.bufferCapacity(limit: preflight.limit), alignment: 8)
    }

    func run() {
        FCGX_InitRequest(raw, -1, 0)
        defer {
            if raw.pointee.ipcFd >= 0 {
                close(raw.pointee.ipcFd)
                raw.pointee.ipcFd = -1
            }
            raw.deallocate()
            peekBuffer.deallocate()
            core.workerExited()
        }
        let thread = pthread_self()
        let readTimeout = core.configuration.readTimeout
        while true {
            if raw.pointee.ipcFd >= 0 {
                // The request's connection is kept: the listener holds it until its next request.
                let kept = raw.pointee.ipcFd
                raw.pointee.ipcFd = -1
                if !listener.park(kept) { close(kept) }
            }
            guard let next = listener.next() else { return }
            switch next {
            case .accepted(let connection):
                core.counters.acceptedConnections.add(1, ordering: .relaxed)
                if !listener.acceptedInheritReceiveTimeout { Posix.setReceiveTimeout(connection, readTimeout) }
                raw.pointee.ipcFd = connection
            case .kept(let connection):
                raw.pointee.ipcFd = connection
            }
            // So that FCGX_Accept_r's opening FCGX_Finish_r keeps the socket we hand it.
            raw.pointee.keepConnection = 1
            raw.pointee.detached = 1
            guard admitRecords(readTimeout: readTimeout) else {
                closeConnection()
                continue
            }
            guard FCGX_Accept_r(raw) == 0 else {
                // libfcgi closed the connection (end of a kept connection, or a protocol error).
                if raw.pointee.ipcFd >= 0 { closeConnection() }
                continue
            }
            serveRequest(thread: thread)
        }
    }

    /// Looks at the next request's records before libfcgi reads them (``ParamsPreflight``):
    /// whether they may be handed over. Parameters announcing more than the limit get a 431
    /// answered here; a peer that does not send its parameters within the read timeout, or
    /// sends malformed management records, is closed.
    private func admitRecords(readTimeout: Duration) -> Bool {
        let fd = raw.pointee.ipcFd
        switch preflight.inspect(fd: fd, buffer: peekBuffer, timeout: readTimeout) {
        case .proceed:
            return true
        case .refuse(let requestID, let announced):
            let configuration = core.configuration
            let refusal = RequestHead.Refusal.paramsTooLarge(announced)
                .response(maxCount: configuration.maxParamsCount, maxBytes: configuration.maxParamsBytes)
            core.counters.rejectedRequests.add(1, ordering: .relaxed)
            core.logger.notice("Refused a request before reading its parameters: \(refusal.text)")
            let answer = ParamsPreflight.answer(requestID: requestID, refusal)
            var offset = 0
            while offset < answer.count {
                let sent = answer[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent > 0 else { break }
                offset += sent
            }
            shutdown(fd, Int32(SHUT_WR))
            return false
        case .close(let reason):
            core.counters.rejectedRequests.add(1, ordering: .relaxed)
            core.logger.notice("Closed a FastCGI connection before its request: \(reason).")
            return false
        }
    }

    private func closeConnection() {
        raw.pointee.keepConnection = 0
        raw.pointee.detached = 1
        FCGX_Free(raw, 1)
    }

    // MARK: One request

    private func serveRequest(thread: pthread_t) {
        let start = Posix.monotonicNanos()
        let id = RequestID()
        let configuration = core.configuration
        core.counters.requestStarted(totalWorkers: core.slots.count)
        defer { core.counters.requestEnded() }

        var refusal: PlainResponse? = nil
        let head: RequestHead
        do throws(RequestHead.Refusal) {
            head = try RequestHead.parse(
                raw.pointee.envp,
                rootPath: configuration.rootPath,
                maxCount: configuration.maxParamsCount,
                maxBytes: configuration.maxParamsBytes,
                paramsInScope: isASGI,
                state: core.lifespanState?.snapshot()
            )
        } catch {
            head = .refused
            refusal = error.response(maxCount: configuration.maxParamsCount, maxBytes: configuration.maxParamsBytes)
        }
        let request = FastCGIRequest(
            raw: raw,
            workerThread: thread,
            workerIndex: index,
            startNanos: start,
            head: head,
            maxBodyBytes: configuration.maxRequestBodyBytes
        )
        let slot = core.slots[index]
        slot.current.withLock { $0 = request }

        var abortConnection = false
        let path = head.scope.path
        if let refusal = refusal ?? PlainResponse.checkDeclaredBody(head.contentLength, limit: configuration.maxRequestBodyBytes) {
            core.counters.rejectedRequests.add(1, ordering: .relaxed)
            core.logger.notice("Refused a request: \(refusal.text)")
            request.respond(refusal)
        } else if let pingPath = configuration.pingPath, path == pingPath {
            respondPlain(request, configuration.pingResponse + "\n")
        } else if let statusPath = configuration.statusPath, path == statusPath {
            let status = core.status()
            if String(decoding: head.scope.queryString, as: UTF8.self).split(separator: "&").contains(where: { $0 == "json" || $0.hasPrefix("json=") }
            ) {
                respondPlain(request, status.json, contentType: "application/json")
            } else {
                respondPlain(request, status.text)
            }
        } else {
            abortConnection = serveApplication(request)
        }

        finish(request, abort: abortConnection)
        slot.current.withLock { $0 = nil }
        if request.isBroken && !request.isTimedOut {
            core.counters.abortedRequests.add(1, ordering: .relaxed)
        }
        if configuration.accessLog {
            logAccess(request, id: id, durationNanos: Posix.monotonicNanos() &- start)
        }
    }

    /// Ends the request: `FCGI_END_REQUEST` and keep or close the connection; or, for a response
    /// that failed midway, close without `FCGI_END_REQUEST` so the web server sees it incomplete.
    private func finish(_ request: FastCGIRequest, abort: Bool) {
        if !abort {
            // The response goes out before anything else (draining the body can wait for the
            // web server).
            request.completeResponse()
        }
        request.markFinished()
        if abort || request.isBroken {
            closeConnection()
            return
        }
        var keep = raw.pointee.keepConnection != 0 && !listener.isStopping
        if !request.inputFinished {
            let remaining = request.head.contentLength.map { $0 - request.bodyRead } ?? (keep ? Self.drainLimit : 0)
            if remaining <= Self.drainLimit {
                // Usually just the empty end-of-body record, already in libfcgi's buffer.
                if !request.drainInput(limit: Self.drainLimit) { keep = false }
            } else {
                keep = false
            }
        }
        raw.pointee.keepConnection = keep ? 1 : 0
        // Close at once when the web server has sent everything; else let libfcgi linger (read
        // until it closes) so that unread body does not reset the connection under the response.
        raw.pointee.detached = request.inputFinished ? 1 : 0
        FCGX_Finish_r(raw)
    }

    private func respondPlain(_ request: FastCGIRequest, _ text: String, contentType: String = "text/plain; charset=utf-8") {
        let body = Array(text.utf8)
        let head = Array("Status: 200 OK\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nCache-Control: no-store\r\n\r\n".utf8)
        try? request.write(head: head, status: 200, body: body, flush: false)
    }

    private func logAccess(_ request: FastCGIRequest, id: RequestID, durationNanos: UInt64) {
        let summary = request.responseSummary
        let scope = request.head.scope
        AccessLogRecord(
            id: id,
            method: scope.method,
            target: request.head.requestURI,
            httpVersion: scope.httpVersion,
            client: scope.client,
            status: summary.started ? summary.status : nil,
            bytes: summary.bytes,
            duration: .nanoseconds(Int64(clamping: durationNanos)),
            outcome: request.isBroken ? (request.isTimedOut ? .timedOut : .aborted) : nil
        ).log(to: core.logger)
    }
}
