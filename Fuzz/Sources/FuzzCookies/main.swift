// FuzzCookies: Cookies(header:) on any bytes.
//
// Invariants: it never traps; no cookie has an empty name; a name never contains the bytes ';' or
// '=' (they delimit it; compared as bytes, since U+037E GREEK QUESTION MARK is canonically
// equivalent to ';' as a Swift Character); the same header gives the same cookies as a String and
// as bytes.
import ASGIToolkit
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCookies(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let header = input.rest()
    let cookies = Cookies(header: header)
    for cookie in cookies {
        fuzzCheck(!cookie.name.isEmpty, "empty cookie name")
        fuzzCheck(!cookie.name.utf8.contains(0x3B) && !cookie.name.utf8.contains(0x3D), "delimiter in name \(cookie.name.debugDescription)")
        fuzzCheck(cookies[cookie.name] != nil, "lookup of \(cookie.name.debugDescription) failed")
    }
    if let text = String(validating: header, as: UTF8.self) {
        fuzzCheck(Cookies(header: text) == cookies, "String and bytes disagree")
    }
    return 0
}
