/// The peers whose `X-Forwarded-For` and `X-Forwarded-Proto` headers ``ProxyHeaders`` believes:
/// addresses (`127.0.0.1`, `::1`), networks (`10.0.0.0/8`, `fd00::/8`), or everyone (`*`).
///
/// Written as the command line and uvicorn's `--forwarded-allow-ips` write it, a comma-separated
/// list. IPv4 entries also match a peer reported in IPv4-mapped IPv6 form (`::ffff:127.0.0.1`).
///
/// ```swift
/// let proxies = try TrustedProxies("127.0.0.1, 10.0.0.0/8")
/// proxies.trusts("10.1.2.3")   // true
/// proxies.trusts("192.0.2.7")  // false
/// ```
public struct TrustedProxies: Sendable, Hashable, CustomStringConvertible {
    private let everyone: Bool
    private let addresses: Set<IPAddress>
    private let networks: [IPNetwork]
    /// The list as it was written, normalised (entries trimmed, joined with `","`).
    public let description: String

    /// Every peer: trust the headers whoever sends them. Only for a server no client can reach
    /// except through the proxy (a unix socket, a private network).
    public static let all = TrustedProxies(everyone: true, addresses: [], networks: [], description: "*")

    /// `127.0.0.1`: a proxy on the same machine (uvicorn's default).
    public static let localhost = TrustedProxies(
        everyone: false,
        addresses: [IPAddress(bits: IPAddress.mappedIPv4Prefix | 0x7F00_0001)],
        networks: [],
        description: "127.0.0.1"
    )

    /// Parses a comma-separated list of addresses, `ADDRESS/PREFIX` networks, or `*`.
    /// - Throws: ``ProxyHeadersError`` `invalidTrustedProxy` naming the entry that is neither.
    public init(_ list: String) throws {
        try self.init(list.split(separator: ",", omittingEmptySubsequences: false).map(String.init))
    }

    /// Builds the list from entries: addresses, `ADDRESS/PREFIX` networks, or `*`.
    /// - Throws: ``ProxyHeadersError`` `invalidTrustedProxy` naming the entry that is neither.
    public init(_ entries: [String]) throws {
        var addresses: Set<IPAddress> = []
        var networks: [IPNetwork] = []
        var everyone = false
        var written: [String] = []
        for raw in entries {
            let entry = raw.trimmingASCIIWhitespace()
            if entry.isEmpty {
                throw ProxyHeadersError(
                    .invalidTrustedProxy,
                    "The trusted proxy list '\(entries.joined(separator: ","))' has an empty entry; write addresses or networks separated by commas."
                )
            }
            written.append(String(entry))
            if entry == "*" {
                everyone = true
            } else if entry.contains("/") {
                switch IPNetwork.parse(entry) {
                case .success(let network):
                    networks.append(network)
                case .failure(.hostBitsSet(let suggestion)):
                    throw ProxyHeadersError(
                        .invalidTrustedProxy,
                        "'\(entry)' has bits set past its prefix; write the network address, e.g. \(suggestion)."
                    )
                case .failure(.notANetwork):
                    throw ProxyHeadersError(.invalidTrustedProxy, "'\(entry)' is not a network: write ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/8.")
                }
            } else if let address = IPAddress(entry) {
                addresses.insert(address)
            } else {
                throw ProxyHeadersError(
                    .invalidTrustedProxy,
                    "'\(entry)' is not an IP address, a network (10.0.0.0/8) or '*'; host names are not resolved."
                )
            }
        }
        guard !written.isEmpty else {
            throw ProxyHeadersError(.invalidTrustedProxy, "The trusted proxy list is empty; give at least one address, network or '*'.")
        }
        self.init(everyone: everyone, addresses: addresses, networks: networks, description: written.joined(separator: ","))
    }

    private init(everyone: Bool, addresses: Set<IPAddress>, networks: [IPNetwork], description: String) {
        self.everyone = everyone
        self.addresses = addresses
        self.networks = networks
        self.description = description
    }

    /// Whether every peer is trusted (`*`).
    public var trustsEveryone: Bool { everyone }

    /// Whether a peer at `host` (an address as text) is trusted. Text that is not an address is
    /// trusted only under `*`.
    public func trusts(_ host: String) -> Bool {
        if everyone { return true }
        guard let address = IPAddress(host) else { return false }
        return trusts(address)
    }

    func trusts(_ address: IPAddress) -> Bool {
        everyone || addresses.contains(address) || networks.contains { $0.contains(address) }
    }
}

/// A configuration error of ``ProxyHeaders`` or ``TrustedProxies``.
public struct ProxyHeadersError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case invalidTrustedProxy
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// An entry of the trusted proxy list is not an address, a network or `*`.
        public static let invalidTrustedProxy = Code(.invalidTrustedProxy)

        /// The code's name.
        public var description: String { backing.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What to do about it.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingASCIIWhitespace() -> Substring {
        let text = self[...]
        guard let first = text.firstIndex(where: { $0 != " " && $0 != "\t" }),
            let last = text.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return Substring() }
        return Substring(text[first...last])
    }
}
