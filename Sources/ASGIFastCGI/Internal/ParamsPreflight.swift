@_spi(ASGIFrontend) import ASGI
import Glibc

/// A look at a connection's FastCGI records before libfcgi reads them, so that a peer cannot make
/// libfcgi allocate what it announces.
///
/// libfcgi reads a name-value pair by allocating the lengths its header announces (up to 2 GiB
/// each) before it reads the bytes, and aborts the process when that allocation fails: one
/// `FCGI_PARAMS` record announcing a 4 GiB parameter ends every request of the process. The
/// worker therefore peeks at the input (`MSG_PEEK`: nothing is consumed, libfcgi still reads it
/// all) and scans it here first: the records up to the end of the request's parameters, and
/// every pair's announced lengths in `FCGI_PARAMS` and `FCGI_GET_VALUES` content, against
/// ``limit``. Only when the whole parameter stream is in view and within bounds is it handed to
/// libfcgi. Anything libfcgi refuses without allocating (another protocol version, a record
/// out of order) is left to libfcgi, which closes the connection.
struct ParamsPreflight {
    /// What the scan of the input so far says.
    enum Verdict: Equatable {
        /// The parameters end within bounds (or libfcgi stops before them): hand the input over.
        case safe
        /// The scan needs at least this many bytes of input in all.
        case needMore(Int)
        /// The parameters announce more than the limit: `announced` bytes (at least) for request
        /// `requestID`.
        case tooLarge(requestID: UInt16, announced: Int)
        /// A management record's pair announces more than the record holds.
        case malformed
    }

    /// The most content bytes the parameter stream of one request may hold (names, values and
    /// their length prefixes).
    let limit: Int

    /// Scans `input` from the start of a request's records.
    func scan(_ input: UnsafeRawBufferPointer) -> Verdict {
        var offset = 0
        var requestID: UInt16 = 0
        var pairs = PairLengths()
        var paramsBytes = 0
        while true {
            guard input.count >= offset + 8 else { return .needMore(offset + 8) }
            let version = input[offset]
            let type = input[offset + 1]
            let id = UInt16(input[offset + 2]) << 8 | UInt16(input[offset + 3])
            let contentLength = Int(input[offset + 4]) << 8 | Int(input[offset + 5])
            let contentStart = offset + 8
            let recordEnd = contentStart + contentLength + Int(input[offset + 6])
            guard version == 1 else { return .safe }
            switch type {
            case Self.beginRequest:
                requestID = id
            case Self.params:
                if contentLength == 0 { return .safe }
                paramsBytes += contentLength
                if paramsBytes > limit { return .tooLarge(requestID: requestID, announced: paramsBytes) }
                guard input.count >= contentStart + contentLength else { return .needMore(contentStart + contentLength) }
                let content = UnsafeRawBufferPointer(rebasing: input[contentStart..<(contentStart + contentLength)])
                if let announced = pairs.feed(content, budget: limit) {
                    return .tooLarge(requestID: requestID, announced: announced)
                }
            case Self.getValues:
                guard input.count >= contentStart + contentLength else { return .needMore(contentStart + contentLength) }
                var record = PairLengths()
                let content = UnsafeRawBufferPointer(rebasing: input[contentStart..<(contentStart + contentLength)])
                if record.feed(content, budget: contentLength) != nil || !record.atPairBoundary { return .malformed }
            case Self.abortRequest:
                break
            default:
                // Body or response records before the parameters end: libfcgi stops reading
                // parameters there (a protocol error) without allocating.
                return .safe
            }
            offset = recordEnd
        }
    }

    static let beginRequest: UInt8 = 1
    static let abortRequest: UInt8 = 2
    static let params: UInt8 = 4
    static let getValues: UInt8 = 9
}

/// The name-value pair headers of a parameter stream, read incrementally across records: each
/// pair's announced name and value lengths, checked against what the stream may still hold.
private struct PairLengths {
    /// Bytes of the current pair still to skip (its name and value), once its header is read.
    private var skipping = 0
    /// The length prefix bytes of the current pair's header read so far.
    private var header: [UInt8] = []
    /// Content bytes seen so far.
    private var consumed = 0

    /// Whether the content seen so far ends between two pairs.
    var atPairBoundary: Bool { skipping == 0 && header.isEmpty }

    /// Reads `content`; returns the announced size of the stream when a pair announces more than
    /// `budget` bytes of stream in all.
    mutating func feed(_ content: UnsafeRawBufferPointer, budget: Int) -> Int? {
        var index = 0
        while index < content.count {
            if skipping > 0 {
                let step = min(skipping, content.count - index)
                skipping -= step
                index += step
                continue
            }
            header.append(content[index])
            index += 1
            guard let (nameLength, valueLength) = Self.lengths(header) else { continue }
            consumed += header.count
            header.removeAll(keepingCapacity: true)
            let announced = consumed + nameLength + valueLength
            if announced > budget { return announced }
            consumed = announced
            skipping = nameLength + valueLength
        }
        return nil
    }

    /// The two lengths of a complete pair header (each one byte, or four with the high bit set),
    /// or `nil` while it is incomplete.
    private static func lengths(_ header: [UInt8]) -> (Int, Int)? {
        let nameBytes = header[0] & 0x80 == 0 ? 1 : 4
        guard header.count > nameBytes else { return nil }
        let valueBytes = header[nameBytes] & 0x80 == 0 ? 1 : 4
        guard header.count == nameBytes + valueBytes else { return nil }
        return (length(header[0..<nameBytes]), length(header[nameBytes...]))
    }

    private static func length(_ bytes: ArraySlice<UInt8>) -> Int {
        guard bytes.count == 4 else { return Int(bytes[bytes.startIndex]) }
        return bytes.dropFirst().reduce(Int(bytes[bytes.startIndex] & 0x7F)) { $0 << 8 | Int($1) }
    }
}

extension ParamsPreflight {
    /// What the worker does with a connection after the look.
    enum Outcome: Equatable {
        /// Hand the input to libfcgi.
        case proceed
        /// The parameters announce more than the limit: answer 431 and close.
        case refuse(requestID: UInt16, announced: Int)
        /// Close the connection without an answer.
        case close(reason: String)
    }

    /// The peek buffer a worker thread keeps: the parameter limit, the record headers and padding
    /// around it, and room for management records.
    static func bufferCapacity(limit: Int) -> Int {
        limit + (limit / 0xFFFF + 2) * (8 + 255) + 4096
    }

    /// Peeks at `fd` (consuming nothing) until the scan decides, for at most `timeout`.
    ///
    /// A peek cannot wait for more input than it has seen (a readable socket stays readable), so
    /// while the records are incomplete it looks again after a pause that doubles from 1 ms to
    /// 50 ms: web servers send a request's parameters in one write, so only a slow or hostile
    /// peer waits here. Blocks the calling thread (a FastCGI worker thread, never a cooperative one).
    func inspect(fd: Int32, buffer: UnsafeMutableRawBufferPointer, timeout: Duration) -> Outcome {
        let deadline = Posix.monotonicNanos() &+ Posix.nanos(timeout)
        var pause: UInt64 = 1
        // Whether the peer had ended its input before the peek (then the peek saw all of it).
        // Looked at only once a peek came up short: the usual request is whole at the first peek.
        var ended = false
        var checkedEnd = false
        while true {
            if checkedEnd { ended = Self.peerEndedInput(fd) }
            var available = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT))
            if available == 0 { return .proceed }  // Nothing more will come: libfcgi sees the end.
            if available < 0 {
                guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return .proceed }
                available = 0
            }
            switch scan(UnsafeRawBufferPointer(rebasing: buffer[..<available])) {
            case .safe:
                return .proceed
            case .tooLarge(let requestID, let announced):
                return .refuse(requestID: requestID, announced: announced)
            case .malformed:
                return .close(reason: "a management record announces more than it holds")
            case .needMore(let needed):
                guard needed <= buffer.count else {
                    return .close(reason: "more than \(buffer.count) bytes of records before the parameters end")
                }
                if ended { return .close(reason: "the input ended before the parameters did") }
                if !checkedEnd {
                    // Peek again at once, this time knowing whether the input had ended before.
                    checkedEnd = true
                    continue
                }
                let now = Posix.monotonicNanos()
                guard now < deadline else {
                    return .close(reason: "the parameters did not arrive within \(timeout)")
                }
                Posix.pause(milliseconds: Int32(min(pause, (deadline - now) / 1_000_000 + 1)))
                pause = min(pause * 2, 50)
            }
        }
    }

    /// Whether the peer has shut down its writing side (or the connection is gone).
    private static func peerEndedInput(_ fd: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN) | Posix.pollReadHangUp, revents: 0)]
        Posix.poll(&fds, timeoutMilliseconds: 0)
        return fds[0].revents & (Posix.pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0
    }

    /// The records that answer request `requestID` with `response` (`FCGI_STDOUT` with the CGI
    /// response, its end, and `FCGI_END_REQUEST`).
    static func answer(requestID: UInt16, _ response: PlainResponse) -> [UInt8] {
        let output = FastCGIRequest.responseHead(status: response.status, headers: response.headers) + response.body
        var records: [UInt8] = []
        var offset = 0
        while offset < output.count {
            let end = min(output.count, offset + 0xFFF8)
            records += record(type: 6, id: requestID, Array(output[offset..<end]))
            offset = end
        }
        records += record(type: 6, id: requestID, [])
        records += record(type: 3, id: requestID, [0, 0, 0, 0, 0, 0, 0, 0])  // FCGI_REQUEST_COMPLETE
        return records
    }

    private static func record(type: UInt8, id: UInt16, _ content: [UInt8]) -> [UInt8] {
        let padding = (8 - content.count % 8) % 8
        return [1, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
            + content + [UInt8](repeating: 0, count: padding)
    }
}
