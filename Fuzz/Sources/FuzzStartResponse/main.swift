// FuzzStartResponse: the rules every WSGI-style `start_response` call passes (StartResponseRules):
// the status line, then header names and values, read as lines from the input.
//
// Invariants: it never traps; an accepted status is 100 to 599 and is the line's first three
// bytes, followed by nothing or a space and a reason without control characters; an accepted
// header has a lower-case token name, passes HTTPFieldValidator, and carries the value's latin-1
// bytes unchanged.
@_spi(ASGIFrontend) import ASGI
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStartResponse(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let statusLine = String(decoding: input.line(limit: 64), as: UTF8.self)
    if let code = try? StartResponseRules.parseStatus(statusLine) {
        let bytes = Array(statusLine.utf8)
        fuzzCheck((100...599).contains(code), "status \(code) from \(statusLine.debugDescription)")
        fuzzCheck(bytes.count >= 3 && Int(String(decoding: bytes[0..<3], as: UTF8.self)) == code, "code \(code) is not the first three bytes")
        fuzzCheck(bytes.count == 3 || bytes[3] == UInt8(ascii: " "), "no space after the code")
        fuzzCheck(!bytes.dropFirst(4).contains { $0 < 0x20 || $0 == 0x7F }, "control character in the reason")
    }
    while true {
        let name = input.line(limit: 32)
        let value = input.line(limit: 64)
        if name.isEmpty && value.isEmpty { break }
        let nameText = String(decoding: name, as: UTF8.self)
        let valueText = String(decoding: value, as: UTF8.self)
        guard let header = try? StartResponseRules.header(nameText, valueText) else { continue }
        fuzzCheck(HTTPFieldValidator.problem(with: header) == nil, "accepted \(nameText.debugDescription): \(valueText.debugDescription)")
        fuzzCheck(!header.name.contains { $0 >= 0x41 && $0 <= 0x5A }, "upper-case name \(header.nameString)")
        fuzzCheck(header.value == valueText.unicodeScalars.map { UInt8($0.value) }, "the value's bytes changed")
    }
    return 0
}
