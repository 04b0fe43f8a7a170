@_spi(ASGIFrontend) import ASGI
import NIOCore

/// Sits before the HTTP decoder and lets the connection look at the bytes the decoder refused,
/// while it refuses them: the decoder reports a `Content-Length` it cannot hold and one that is not
/// a number as the same error, and only the bytes tell a 413 from a 400.
///
/// It holds the buffer being decoded only for the duration of that read (the decoder reports its
/// errors synchronously inside it), so it costs no copy and keeps nothing between reads.
///
/// It also bounds what the decoder keeps once it has stopped parsing: after a request that asks
/// for a protocol switch (`Upgrade` with `Connection: upgrade`, or `CONNECT`) the decoder takes
/// every later byte without reading it, to hand it to the new protocol. A client that sends more
/// than ``maxBytesAfterUpgrade`` before the server switched (the switch, a WebSocket handshake,
/// removes this handler) or answered gets its connection closed: nothing it sends then can be
/// served, and it would otherwise all be held in memory.
final class RequestDecoderGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The read being decoded, if any.
    private(set) var current: ByteBuffer?
    /// Bytes received since the decoder stopped parsing (`nil`: it has not).
    private var afterUpgrade: Int?
    /// Most bytes a client may send after a protocol-switch request before the switch.
    let maxBytesAfterUpgrade: Int

    init(maxBytesAfterUpgrade: Int = 64 * 1024) {
        self.maxBytesAfterUpgrade = maxBytesAfterUpgrade
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        if let count = afterUpgrade {
            afterUpgrade = count + buffer.readableBytes
            if count + buffer.readableBytes > maxBytesAfterUpgrade {
                context.close(promise: nil)
                return
            }
        }
        current = buffer
        context.fireChannelRead(data)
        current = nil
    }

    /// The decoder has stopped parsing after a protocol-switch request: count what follows.
    func decoderStopped() {
        if afterUpgrade == nil { afterUpgrade = 0 }
    }

    /// A `Content-Length` value in the read being decoded too large for any body (past `Int.max`).
    /// A field split across two reads is not seen: the decoder's error is then answered with 400.
    var oversizedContentLength: String? {
        guard let current else { return nil }
        let bytes = current.readableBytesView
        let name = Array("content-length:".utf8)
        var index = bytes.startIndex
        while let start = Self.find(name, in: bytes, from: index) {
            var end = start + name.count
            while end < bytes.endIndex, bytes[end] != UInt8(ascii: "\r"), bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let value = bytes[(start + name.count)..<end]
            if ContentLength.parse(value) == .tooLarge { return String(decoding: value, as: UTF8.self).trimmingSpaces }
            index = end
        }
        return nil
    }

    /// The first index of `needle` (ASCII case-insensitive) in `haystack` at or after `from`.
    private static func find(_ needle: [UInt8], in haystack: ByteBufferView, from: Int) -> Int? {
        guard haystack.endIndex - from >= needle.count else { return nil }
        var start = from
        while start + needle.count <= haystack.endIndex {
            var matched = true
            for offset in 0..<needle.count {
                var byte = haystack[start + offset]
                if byte >= 0x41 && byte <= 0x5A { byte |= 0x20 }
                if byte != needle[offset] {
                    matched = false
                    break
                }
            }
            if matched { return start }
            start += 1
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var slice = self[...]
        while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
        while slice.last == " " || slice.last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
