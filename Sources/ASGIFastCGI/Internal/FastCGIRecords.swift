import Glibc

/// `FCGI_STDOUT` records written straight to the web server's connection, for a response chunk
/// larger than libfcgi's 8 KiB output buffer: one `sendmsg` for the whole chunk (up to 64 KiB of
/// content a record) instead of one `write` per bufferful.
///
/// The caller flushes libfcgi's buffer first (the order of the bytes on the connection is the
/// order they were written). The end of the stream and `FCGI_END_REQUEST` go with the last
/// records when the caller asks (``writeStdout(_:requestID:_:_:endingWith:)``), else libfcgi writes
/// them.
enum FastCGIRecords {
    /// Content bytes per record: the largest multiple of 8 that a record's 16-bit length holds.
    static let contentPerRecord = 65528
    /// Vectors handed to one `sendmsg` (below Linux's `IOV_MAX` of 1024).
    static let vectorsPerCall = 512

    private static let version: UInt8 = 1
    private static let stdoutType: UInt8 = 6
    private static let endRequestType: UInt8 = 3
    /// The empty `FCGI_STDOUT` record and the `FCGI_END_REQUEST` record (8-byte body).
    static let endBytes = 8 + 16

    /// Writes `head` then `body` as the content of `FCGI_STDOUT` records of `requestID`; with
    /// `endingWith` (the application's exit status), then the end of the stream and
    /// `FCGI_END_REQUEST` (`FCGI_REQUEST_COMPLETE`), all with the same `sendmsg`.
    /// - Returns: 0, or the `errno` of the write that failed (the connection is then unusable).
    static func writeStdout(
        _ fd: Int32,
        requestID: Int32,
        _ head: UnsafeRawBufferPointer,
        _ body: UnsafeRawBufferPointer,
        endingWith appStatus: Int32? = nil
    ) -> Int32 {
        let total = head.count + body.count
        guard total > 0 || appStatus != nil else { return 0 }
        let records = (total + contentPerRecord - 1) / contentPerRecord
        var headers = [UInt8](repeating: 0, count: records * 8 + (appStatus == nil ? 0 : endBytes))
        return headers.withUnsafeMutableBytes { headerBytes -> Int32 in
            var vectors: [iovec] = []
            vectors.reserveCapacity(records * 3 + 1)
            var offset = 0
            for index in 0..<records {
                let length = min(contentPerRecord, total - offset)
                let header = headerBytes.baseAddress! + index * 8
                storeHeader(header, type: stdoutType, requestID: requestID, length: length)
                vectors.append(iovec(iov_base: header, iov_len: 8))
                // The record's content: [offset, offset + length) of head followed by body.
                let end = offset + length
                if offset < head.count, let base = head.baseAddress {
                    let upTo = min(end, head.count)
                    vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: base + offset), iov_len: upTo - offset))
                }
                if end > head.count, let base = body.baseAddress {
                    let from = max(offset, head.count) - head.count
                    vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: base + from), iov_len: end - head.count - from))
                }
                offset = end
            }
            if let appStatus {
                let end = headerBytes.baseAddress! + records * 8
                // The empty FCGI_STDOUT record, then FCGI_END_REQUEST: the application's status
                // (big-endian), protocol status FCGI_REQUEST_COMPLETE (0), 3 reserved bytes.
                storeHeader(end, type: stdoutType, requestID: requestID, length: 0)
                storeHeader(end + 8, type: endRequestType, requestID: requestID, length: 8)
                (end + 16).storeBytes(of: UInt32(bitPattern: appStatus).bigEndian, toByteOffset: 0, as: UInt32.self)
                vectors.append(iovec(iov_base: end, iov_len: endBytes))
            }
            return sendAll(fd, &vectors)
        }
    }

    /// A record header: version, type, request ID (big-endian), content length (big-endian), no
    /// padding (the rest of the 8 bytes are zero already).
    private static func storeHeader(_ header: UnsafeMutableRawPointer, type: UInt8, requestID: Int32, length: Int) {
        header.storeBytes(of: version, toByteOffset: 0, as: UInt8.self)
        header.storeBytes(of: type, toByteOffset: 1, as: UInt8.self)
        header.storeBytes(of: UInt16(truncatingIfNeeded: requestID).bigEndian, toByteOffset: 2, as: UInt16.self)
        header.storeBytes(of: UInt16(length).bigEndian, toByteOffset: 4, as: UInt16.self)
    }

    /// Sends every vector, resuming after partial sends; 0 or the failed send's `errno`.
    private static func sendAll(_ fd: Int32, _ vectors: inout [iovec]) -> Int32 {
        var start = 0
        while start < vectors.count {
            let count = min(vectorsPerCall, vectors.count - start)
            let sent = vectors.withUnsafeMutableBufferPointer { buffer -> Int in
                var message = msghdr()
                message.msg_iov = buffer.baseAddress! + start
                message.msg_iovlen = count
                return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if sent == 0 { return EPIPE }
            var remaining = sent
            while remaining > 0 {
                if vectors[start].iov_len <= remaining {
                    remaining -= vectors[start].iov_len
                    start += 1
                } else {
                    vectors[start].iov_base = vectors[start].iov_base.map { $0 + remaining }
                    vectors[start].iov_len -= remaining
                    remaining = 0
                }
            }
        }
        return 0
    }
}
