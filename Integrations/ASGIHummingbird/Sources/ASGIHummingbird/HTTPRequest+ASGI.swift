@_spi(ASGIFrontend) import ASGI
import HTTPTypes
import NIOCore

extension HTTPRequest {
    /// The request's headers as a scope carries them: names lower-cased, order and repeats kept,
    /// and `host` first (HTTPTypes moves an HTTP/1 request's `Host` into the authority; to ASGI it
    /// is a header).
    var asgiHeaders: ASGIHeaders {
        var headers = ASGIHeaders()
        headers.elements.reserveCapacity(headerFields.count + 1)
        if let authority {
            headers.append(ASGIHeader(name: Array("host".utf8), value: Array(authority.utf8)))
        }
        for field in headerFields {
            headers.append(ASGIHeader(name: Array(field.name.canonicalName.utf8), value: Array(field.value.utf8)))
        }
        return headers
    }
}

extension ASGIAddress {
    /// The scope address of a socket address: the IP and port, or the path of a Unix socket.
    init(socketAddress address: SocketAddress) {
        switch address {
        case .v4, .v6:
            self.init(host: address.ipAddress ?? address.description, port: address.port)
        case .unixDomainSocket:
            self.init(host: address.pathname ?? "", port: nil)
        }
    }
}
