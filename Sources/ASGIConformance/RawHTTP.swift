import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What went wrong in a raw exchange.
///
/// Match on ``code``; new codes may be added in later versions.
public struct RawHTTPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case connectFailed
            case malformedResponse
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// No connection to the server: check that it is listening on the port the test uses.
        public static let connectFailed = Code(.connectFailed)
        /// What came back is not an HTTP response (no head, or a bad status line): the server
        /// under test answered with something else or closed early; the message shows the bytes.
        public static let malformedResponse = Code(.malformedResponse)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What happened, with the bytes or the errno involved.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }

    /// Errors are equal when their codes are.
    public static func == (lhs: RawHTTPError, rhs: RawHTTPError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

/// An HTTP response as a raw client read it off the socket.
public struct RawResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Whether the body arrived whole (its Content-Length, or the last chunk, was reached).
    public var complete: Bool
    /// Whether the body is framed (Content-Length or chunked), not ended by the connection's end.
    public var framed = true

    /// The first value of `name`, compared without regard to case.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A raw HTTP/1.1 client for requests no well-behaved client sends (a `#` in the target, a
/// `Content-Length: +5`): writes `request` as given on a new connection to 127.0.0.1:`port` and
/// reads until the server closes it (with `keepAlive`, until the framed body is whole).
/// `stopAfter`: close once that many body bytes arrived.
public func rawHTTP(port: Int, _ request: [UInt8], stopAfter: Int? = nil, keepAlive: Bool = false) async throws -> RawResponse {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try exchangeRaw(port: port, request, stopAfter: stopAfter, keepAlive: keepAlive) }) }.start()
    }
}

/// The blocking exchange behind ``rawHTTP(port:_:stopAfter:keepAlive:)``, on a thread of its own.
private func exchangeRaw(port: Int, _ request: [UInt8], stopAfter: Int?, keepAlive: Bool) throws -> RawResponse {
    do {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError(.connectFailed, "socket failed: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw RawHTTPError(.connectFailed, "connect to \(port) failed: errno \(errno)") }
        var offset = 0
        while offset < request.count {
            let sent = request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { break }
            offset += sent
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got <= 0 { break }
            received += buffer[..<got]
            if let stopAfter, let head = received.firstRange(of: [13, 10, 13, 10]), received.count - head.upperBound >= stopAfter { break }
            // A kept-alive connection stays open after a whole response: stop at its end.
            if keepAlive, let response = try? parseRawResponse(received), response.complete, response.framed { break }
        }
        return try parseRawResponse(received)
    }
}

/// Parses a response (head, then a body framed by Content-Length, chunks, or the connection's end).
public func parseRawResponse(_ bytes: [UInt8]) throws -> RawResponse {
    guard let end = bytes.firstRange(of: [13, 10, 13, 10]) else {
        throw RawHTTPError(.malformedResponse, "no response head in \(bytes.count) bytes: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
    }
    let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let statusParts = lines[0].split(separator: " ")
    guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw RawHTTPError(.malformedResponse, "bad status line: \(lines[0])") }
    var headers: [(String, String)] = []
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
    }
    var response = RawResponse(status: status, headers: headers, body: [], complete: false)
    let rest = Array(bytes[end.upperBound...])
    if response.header("transfer-encoding")?.lowercased() == "chunked" {
        var index = 0
        while let lineEnd = rest[index...].firstRange(of: [13, 10]) {
            let sizeText = String(decoding: rest[index..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText, radix: 16) else { break }
            let start = lineEnd.upperBound
            if size == 0 {
                response.complete = true
                break
            }
            guard start + size + 2 <= rest.count else {
                response.body += rest[start...]
                break
            }
            response.body += rest[start..<(start + size)]
            index = start + size + 2
        }
    } else if let length = response.header("content-length").flatMap(Int.init) {
        response.body = Array(rest.prefix(length))
        response.complete = rest.count >= length
    } else {
        response.body = rest
        response.complete = true
        response.framed = false
    }
    return response
}

/// A request's bytes: request line, `Host`, the given header lines, `Connection: close` (unless
/// `keepAlive`), body.
public func rawRequest(_ method: String, _ target: String, port: Int, headers: [String] = [], body: [UInt8] = [], keepAlive: Bool = false) -> [UInt8]
{
    var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
    for line in headers { text += line + "\r\n" }
    text += keepAlive ? "\r\n" : "Connection: close\r\n\r\n"
    return Array(text.utf8) + body
}
