// FuzzSetCookie: SetCookie.headerValue() on any name, value, path and domain.
//
// Invariants: it never traps; a header it returns has no control character (no CR/LF: no header
// injection) and no ';' beyond the attribute separators; read back as a Cookie header, its first
// cookie is the name and value given (quotes removed).
import ASGIToolkit
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSetCookie(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let flags = input.byte()
    let name = String(decoding: input.line(limit: 256), as: UTF8.self)
    let value = String(decoding: input.line(limit: 5000), as: UTF8.self)
    let path = String(decoding: input.line(limit: 256), as: UTF8.self)
    let domain = String(decoding: input.rest(), as: UTF8.self)
    let sameSites: [SetCookie.SameSite?] = [nil, .lax, .strict, SetCookie.SameSite.none]
    let cookie = SetCookie(
        name: name,
        value: value,
        maxAge: flags & 1 != 0 ? Int(flags) - 128 : nil,
        path: flags & 2 != 0 ? path : nil,
        domain: flags & 4 != 0 ? domain : nil,
        secure: flags & 8 != 0,
        httpOnly: flags & 16 != 0,
        sameSite: sameSites[Int(flags >> 5) % 4]
    )
    guard let header = try? cookie.headerValue() else { return 0 }
    fuzzCheck(header.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }, "control character in \(header.debugDescription)")
    let attributes =
        (flags & 1 != 0 ? 1 : 0) + (flags & 2 != 0 ? 1 : 0) + (flags & 4 != 0 ? 1 : 0)
        + (flags & 8 != 0 ? 1 : 0) + (flags & 16 != 0 ? 1 : 0) + (sameSites[Int(flags >> 5) % 4] != nil ? 1 : 0)
    fuzzCheck(header.utf8.filter { $0 == UInt8(ascii: ";") }.count == attributes, "extra ';' in \(header.debugDescription)")
    var expected = value
    if expected.utf8.count >= 2, expected.hasPrefix("\""), expected.hasSuffix("\"") { expected = String(expected.dropFirst().dropLast()) }
    let first = Cookies(header: header).first
    fuzzCheck(first?.name == name && first?.value == expected, "\(header.debugDescription) reads back as \(String(describing: first))")
    return 0
}
