import Glibc
import TestSupport

/// Builds raw FastCGI records, for feeding the server input that no web server would send.
enum FastCGIWire {
    static let beginRequest: UInt8 = 1
    static let params: UInt8 = 4
    static let stdin: UInt8 = 5

    static func record(_ type: UInt8, id: UInt16 = 1, _ content: [UInt8] = [], version: UInt8 = 1) -> [UInt8] {
        precondition(content.count <= 0xFFFF)
        let padding = (8 - content.count % 8) % 8
        return [version, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
            + content + [UInt8](repeating: 0, count: padding)
    }

    static func begin(id: UInt16 = 1, role: UInt16 = 1, keepConnection: Bool = false) -> [UInt8] {
        record(beginRequest, id: id, [UInt8(role >> 8), UInt8(role & 0xFF), keepConnection ? 1 : 0, 0, 0, 0, 0, 0])
    }

    static func length(_ count: Int) -> [UInt8] {
        count < 128
            ? [UInt8(count)] : [UInt8(0x80 | (count >> 24) & 0x7F), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
    }

    static func pair(_ name: String, _ value: String) -> [UInt8] {
        length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
    }

    /// A complete GET request (`params` as name/value pairs), with an empty body.
    static func request(id: UInt16 = 1, keepConnection: Bool = false, params: [(String, String)], body: [UInt8] = []) -> [UInt8] {
        var bytes = begin(id: id, keepConnection: keepConnection)
        let encoded = params.flatMap { pair($0.0, $0.1) }
        var offset = 0
        while offset < encoded.count {
            let end = min(encoded.count, offset + 0xFFF8)
            bytes += record(self.params, id: id, Array(encoded[offset..<end]))
            offset = end
        }
        bytes += record(self.params, id: id)
        if !body.isEmpty { bytes += record(stdin, id: id, body) }
        bytes += record(stdin, id: id)
        return bytes
    }
}

/// A raw client connection to the FastCGI server's socket.
final class RawConnection {
    let fd: Int32

    init(unixPath path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestFailure("connect \(path) failed: errno \(errno)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Reads until the server closes the connection (or the 10-second receive timeout).
    func readAll() -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return result }
            result += buffer[..<count]
        }
    }

    /// Reads records until `FCGI_END_REQUEST` (type 3); returns the `FCGI_STDOUT` content, and
    /// whether the end came (not the connection's end first).
    func readResponse() -> (stdout: [UInt8], ended: Bool) {
        let records = readRecords()
        return (records.filter { $0.type == 6 }.flatMap(\.content), records.last?.type == 3)
    }

    /// Reads records up to and including `FCGI_END_REQUEST` (type 3), or to the connection's
    /// end; all of them, in order.
    func readRecords() -> [FastCGIRecord] {
        var pending: [UInt8] = []
        var records: [FastCGIRecord] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            while pending.count >= 8 {
                let length = Int(pending[4]) << 8 | Int(pending[5])
                let total = 8 + length + Int(pending[6])
                guard pending.count >= total else { break }
                records += FastCGIRecord.parse(Array(pending[..<total]))
                pending.removeFirst(total)
                if records.last?.type == 3 { return records }
            }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return records }
            pending += buffer[..<count]
        }
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    deinit { close(fd) }
}

/// One FastCGI record read back from the server.
struct FastCGIRecord: Sendable {
    var type: UInt8
    var id: UInt16
    var content: [UInt8]

    /// Splits `bytes` into records (an incomplete last record is dropped).
    static func parse(_ bytes: [UInt8]) -> [FastCGIRecord] {
        var records: [FastCGIRecord] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            let length = Int(bytes[offset + 4]) << 8 | Int(bytes[offset + 5])
            let end = offset + 8 + length
            guard end <= bytes.count else { break }
            records.append(
                FastCGIRecord(
                    type: bytes[offset + 1],
                    id: UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3]),
                    content: Array(bytes[(offset + 8)..<end])
                )
            )
            offset = end + Int(bytes[offset + 6])
        }
        return records
    }
}
