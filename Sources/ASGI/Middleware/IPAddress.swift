/// An IP address as one 128-bit number: an IPv6 address as it is, an IPv4 address in its
/// IPv4-mapped IPv6 form (`::ffff:a.b.c.d`).
///
/// One representation for both families means one comparison rule: a peer a dual-stack socket
/// reports as `::ffff:127.0.0.1` is the same address as `127.0.0.1`.
///
/// Parsing is strict, because the text comes from request headers: IPv4 needs four decimal parts
/// of at most three digits, 0–255, without leading zeros (`010` could mean octal); IPv6 follows
/// RFC 4291 (hex groups of one to four digits, `::` at most once, an IPv4 tail allowed), with no
/// zone (`%eth0`).
struct IPAddress: Hashable, Sendable {
    /// The address; IPv4 addresses occupy the low 32 bits under the `::ffff:0:0/96` prefix.
    let bits: UInt128

    /// The prefix that marks an IPv4-mapped address.
    static let mappedIPv4Prefix: UInt128 = 0xFFFF << 32

    /// Whether this is an IPv4 address (written as IPv4, or IPv4-mapped IPv6).
    var isIPv4: Bool { bits >> 32 == 0xFFFF }

    /// Parses an IPv4 or IPv6 address; `nil` for anything else.
    init?(_ text: Substring) {
        if let v4 = Self.parseIPv4(text) {
            bits = Self.mappedIPv4Prefix | UInt128(v4)
        } else if let v6 = Self.parseIPv6(text) {
            bits = v6
        } else {
            return nil
        }
    }

    /// Parses an IPv4 or IPv6 address; `nil` for anything else.
    init?(_ text: String) {
        self.init(text[...])
    }

    init(bits: UInt128) {
        self.bits = bits
    }

    // MARK: IPv4

    static func parseIPv4(_ text: Substring) -> UInt32? {
        var value: UInt32 = 0
        var parts = 0
        var part: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits == 0 { leadingZero = byte == UInt8(ascii: "0") } else if leadingZero { return nil }
                digits += 1
                guard digits <= 3 else { return nil }
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                guard part <= 255 else { return nil }
            case UInt8(ascii: "."):
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | part
                parts += 1
                part = 0
                digits = 0
            default:
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return value << 8 | part
    }

    // MARK: IPv6

    static func parseIPv6(_ text: Substring) -> UInt128? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8.count <= 45 else { return nil }
        // Split at the one "::" allowed, if any.
        var gap: Int? = nil
        var index = 0
        while index + 1 < utf8.count {
            if utf8[index] == UInt8(ascii: ":"), utf8[index + 1] == UInt8(ascii: ":") {
                guard gap == nil else { return nil }
                gap = index
                index += 2
            } else {
                index += 1
            }
        }
        let head: ArraySlice<UInt8>
        let tail: ArraySlice<UInt8>
        if let gap {
            head = utf8[..<gap]
            tail = utf8[(gap + 2)...]
        } else {
            head = utf8[...]
            tail = []
        }
        guard let headGroups = groups(head, mayEndWithIPv4: gap == nil),
            let tailGroups = groups(tail, mayEndWithIPv4: true)
        else { return nil }
        let count = headGroups.count + tailGroups.count
        if gap == nil {
            guard count == 8 else { return nil }
        } else {
            guard count <= 7 else { return nil }
        }
        // The head groups are the high bits, the tail groups the low bits; "::" is the zeros between.
        var high: UInt128 = 0
        for group in headGroups { high = high << 16 | UInt128(group) }
        var low: UInt128 = 0
        for group in tailGroups { low = low << 16 | UInt128(group) }
        return high << (16 * UInt128(8 - headGroups.count)) | low
    }

    /// The 16-bit groups of one side of an IPv6 address (an IPv4 tail counts as two); `nil` if
    /// malformed. An empty side has no groups.
    private static func groups(_ bytes: ArraySlice<UInt8>, mayEndWithIPv4: Bool) -> [UInt16]? {
        guard !bytes.isEmpty else { return [] }
        var result: [UInt16] = []
        let fields = bytes.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        for (position, field) in fields.enumerated() {
            guard !field.isEmpty else { return nil }
            if position == fields.count - 1, mayEndWithIPv4, field.contains(UInt8(ascii: ".")) {
                guard let v4 = parseIPv4(Substring(decoding: field, as: UTF8.self)) else { return nil }
                result.append(UInt16(v4 >> 16))
                result.append(UInt16(v4 & 0xFFFF))
                continue
            }
            guard field.count <= 4 else { return nil }
            var group: UInt16 = 0
            for byte in field {
                guard let digit = hexValue(byte) else { return nil }
                group = group << 4 | UInt16(digit)
            }
            result.append(group)
        }
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// An IP network (`10.0.0.0/8`, `fd00::/8`) in the same 128-bit space as ``IPAddress``.
struct IPNetwork: Hashable, Sendable {
    /// The network address (host bits zero).
    let address: UInt128
    /// The prefix length in the 128-bit space (an IPv4 `/n` is `96 + n`).
    let prefixLength: Int

    /// The mask of the prefix.
    var mask: UInt128 { prefixLength == 0 ? 0 : UInt128.max << UInt128(128 - prefixLength) }

    /// Whether `ip` lies in this network.
    func contains(_ ip: IPAddress) -> Bool {
        ip.bits & mask == address
    }

    /// Why a network written as text is refused.
    enum ParseFailure: Error, Equatable {
        case notANetwork
        case hostBitsSet(suggestion: String)
    }

    /// Parses `ADDRESS/PREFIX`; the address may not have host bits set (`10.0.0.1/8` is refused:
    /// `10.0.0.0/8` was probably meant, and silently widening or narrowing a trust rule is worse
    /// than an error).
    static func parse(_ text: Substring) -> Result<IPNetwork, ParseFailure> {
        guard let slash = text.firstIndex(of: "/"),
            let ip = IPAddress(text[..<slash])
        else { return .failure(.notANetwork) }
        let prefixText = text[text.index(after: slash)...]
        guard !prefixText.isEmpty, prefixText.utf8.count <= 3, prefixText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let prefix = Int(prefixText)
        else { return .failure(.notANetwork) }
        let written = text[..<slash]
        let isV4 = IPAddress.parseIPv4(written) != nil
        guard prefix <= (isV4 ? 32 : 128) else { return .failure(.notANetwork) }
        let length = isV4 ? 96 + prefix : prefix
        let network = IPNetwork(address: 0, prefixLength: length)
        let masked = ip.bits & network.mask
        guard masked == ip.bits else {
            return .failure(.hostBitsSet(suggestion: "\(IPAddress(bits: masked).text(asIPv4: isV4))/\(prefix)"))
        }
        return .success(IPNetwork(address: masked, prefixLength: length))
    }

    private init(address: UInt128, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }
}

extension IPAddress {
    /// The address as text: dotted IPv4 when `asIPv4` and it is one, else full IPv6 groups.
    func text(asIPv4: Bool) -> String {
        if asIPv4, isIPv4 {
            let v4 = UInt32(truncatingIfNeeded: bits)
            return (0..<4).map { String(v4 >> (24 - 8 * UInt32($0)) & 0xFF) }.joined(separator: ".")
        }
        return (0..<8).map { String(UInt16(truncatingIfNeeded: bits >> (112 - 16 * UInt128($0))), radix: 16) }.joined(separator: ":")
    }
}
