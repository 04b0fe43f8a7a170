@_spi(ASGIFrontend) import ASGI
import AsyncAlgorithms
import Logging
import NIOCore
import NIOHTTP1

/// A refused WebSocket handshake's answer, written on the handshake's connection before
/// Hummingbird's own (a 400 for a handshake it does not upgrade), which then finds the output
/// closed and is dropped.
enum WebSocketDenial {
    /// Writes a plain response and closes the output.
    static func write(_ response: PlainResponse, on channel: any Channel) async {
        var headers = HTTPHeaders()
        for header in response.headers { headers.add(name: header.nameString, value: header.valueString) }
        headers.replaceOrAdd(name: "connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: response.body))), promise: nil)
        try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        try? await channel.close(mode: .output).get()
    }

    /// Writes the application's own denial response (`websocket.http.response.*`) as its body
    /// events arrive: the head with the first (sized when that one is the whole body), then the
    /// rest. An application that returns before its first body event gets a 500; one that stops
    /// in the middle has the connection closed under it.
    static func writeResponse(status: Int, headers: ASGIHeaders, from exchange: WebSocketExchange, on channel: any Channel, logger: Logger) async {
        var headWritten = false
        var complete = false
        var writeFailed = false
        for await part in exchange.denialParts {
            let (allowed, declaredLength) = exchange.admitDenialBytes(part.bytes.count)
            var parts: [HTTPServerResponsePart] = []
            if !headWritten {
                var fields = HTTPHeaders()
                for header in headers { fields.add(name: header.nameString, value: header.valueString) }
                if declaredLength == nil && !part.more && HTTPStatus.isBodiless(status) == false {
                    fields.add(name: "content-length", value: String(allowed))
                }
                fields.replaceOrAdd(name: "connection", value: "close")
                parts.append(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: fields)))
                headWritten = true
            }
            if allowed > 0 { parts.append(.body(.byteBuffer(ByteBuffer(bytes: part.bytes.prefix(allowed))))) }
            if !part.more {
                parts.append(.end(nil))
                complete = true
            }
            do {
                for part in parts.dropLast() { channel.write(part, promise: nil) }
                if let last = parts.last { try await channel.writeAndFlush(last).get() }
            } catch {
                writeFailed = true
            }
            if complete || writeFailed { break }
        }
        // The application's later body events (if any) return at once.
        exchange.denialParts.finish()
        if writeFailed { return }
        if !headWritten {
            logger.error("ASGI callable returned without completing its WebSocket denial response.")
            await write(.internalServerError, on: channel)
            return
        }
        if !complete {
            logger.error("ASGI callable returned without completing its WebSocket denial response.")
            try? await channel.close().get()
            return
        }
        try? await channel.close(mode: .output).get()
    }
}
