extension HTTPServerConfiguration {
    /// A listening socket the server is handed instead of binding ``HTTPServerConfiguration/host``
    /// and ``HTTPServerConfiguration/port`` itself: a descriptor inherited from a supervisor that
    /// binds once for all its worker processes (the `Gateway` runner does), from systemd socket
    /// activation, or from any other parent.
    ///
    /// ```swift
    /// var configuration = HTTPServerConfiguration()
    /// configuration.listeningSocket = .descriptor(3)   // bound and listening, open as fd 3
    /// ```
    ///
    /// The socket must be a bound, listening TCP (or unix) stream socket. The server takes the
    /// descriptor over: it makes it non-blocking and closes it when it stops accepting. Closing
    /// affects this process's descriptor only, so other processes sharing the socket keep
    /// accepting, and connections waiting in its backlog go to them. `backlog` does not apply:
    /// the socket's owner chose it when it called `listen`.
    public struct ListeningSocket: Sendable, Hashable, CustomStringConvertible {
        /// The open file descriptor of the listening socket.
        public var descriptor: Int32

        /// The listening socket open as `descriptor` in this process.
        public static func descriptor(_ descriptor: Int32) -> ListeningSocket {
            ListeningSocket(descriptor: descriptor)
        }

        /// `fd:N`, as logs write it.
        public var description: String { "fd:\(descriptor)" }
    }
}
