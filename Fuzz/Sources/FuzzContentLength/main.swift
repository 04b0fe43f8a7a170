// FuzzContentLength: the one Content-Length reading (request heads, FastCGI's CONTENT_LENGTH,
// application headers), on any bytes.
//
// Invariants: it never traps; a length is never negative; a length prints back to the digits it
// was read from (surrounding spaces and tabs aside); `value` agrees with `parse`; the String
// reading agrees with the bytes one.
@_spi(ASGIFrontend) import ASGI
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzContentLength(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let bytes = input.rest()
    let parsed = ContentLength.parse(bytes)
    switch parsed {
    case .length(let length):
        fuzzCheck(length >= 0, "negative length \(length)")
        let digits = bytes.filter { $0 != 0x20 && $0 != 0x09 }
        let printed = Array(String(length).utf8)
        let significant = Array(digits.drop { $0 == UInt8(ascii: "0") })
        fuzzCheck(printed == significant || (length == 0 && significant.isEmpty), "\(length) read from \(bytes)")
        fuzzCheck(ContentLength.value(bytes) == length, "value disagrees with parse")
    case .malformed, .tooLarge:
        fuzzCheck(ContentLength.value(bytes) == nil, "value of a refused length")
    }
    if let text = String(validating: bytes, as: UTF8.self) {
        fuzzCheck(ContentLength.parse(text) == parsed, "String and bytes disagree")
    }
    return 0
}
