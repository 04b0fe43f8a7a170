/// The rules a WSGI-style `start_response` call must pass, on every frontend: the status line
/// and each header as HTTP can carry them (PEP 3333, RFC 9110). Kept apart from the driver that
/// applies them so that the rules can be fuzzed on their own (`Fuzz/Sources/FuzzStartResponse`).
@_spi(ASGIFrontend) public enum StartResponseRules {
    /// The code of a status line: `"200 OK"` or a bare `"200"`, 100 to 599.
    public static func parseStatus(_ line: String) throws -> Int {
        var value = 0
        var index = 0
        var valid = true
        for byte in line.utf8 {
            if index < 3 {
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                } else {
                    valid = false
                }
            } else if index == 3 {
                if byte != UInt8(ascii: " ") { valid = false }
            } else if byte < 0x20 || byte == 0x7F {
                throw WSGIError(.invalidStatus, "Status '\(line.debugDescription)' contains a control character.")
            }
            index += 1
        }
        guard valid, index >= 3, HTTPStatus.isValid(value) else {
            throw WSGIError(
                .invalidStatus,
                "Status '\(line)' is not a three-digit code from 100 to 599, optionally followed by a space and a reason, such as '200 OK'."
            )
        }
        return value
    }

    /// A response header as HTTP can carry it: the name lower-cased, the value latin-1 encoded,
    /// both passing ``HTTPFieldValidator``.
    public static func header(_ name: String, _ value: String) throws -> ASGIHeader {
        var lowered = Array(name.utf8)
        for index in lowered.indices where lowered[index] >= UInt8(ascii: "A") && lowered[index] <= UInt8(ascii: "Z") {
            lowered[index] |= 0x20
        }
        guard let bytes = value.latin1Bytes else {
            throw WSGIError(.invalidHeader, "Header '\(name)' has a value with characters outside latin-1; encode it (e.g. RFC 8187) first.")
        }
        let header = ASGIHeader(name: lowered, value: bytes)
        if let problem = HTTPFieldValidator.problem(with: header) {
            throw WSGIError(.invalidHeader, "Response header refused: \(problem).")
        }
        return header
    }
}
