// FuzzResponseFraming: the response-head check every frontend makes of an application's
// `http.response.start` (status, header fields, Content-Length) and the framing state that bounds
// the body, on a status, a method, headers and body chunk sizes read from the input.
//
// Invariants: it never traps; an accepted head has a valid status and fields; no more body bytes
// go out than the head declares, none for a bodiless status or HEAD; every byte is either sent
// or counted as excess; the shortfall is what the declared length still lacks.
@_spi(ASGIFrontend) import ASGI
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponseFraming(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let status = Int(input.byte()) << 8 | Int(input.byte())
    let method = ["GET", "HEAD", "POST", "PUT"][Int(input.byte() % 4)]
    var headers = ASGIHeaders()
    for _ in 0..<Int(input.byte() % 6) {
        let name = input.line(limit: 32)
        let value = input.line(limit: 64)
        headers.append(ASGIHeader(name: name, value: value))
    }
    guard
        var framing = try? ResponseFraming.checkingStart(
            status: status,
            headers: headers,
            requestMethod: method,
            event: .httpResponseStart(status: status, headers: headers)
        )
    else { return 0 }
    fuzzCheck(HTTPStatus.isValid(status), "accepted status \(status)")
    fuzzCheck(headers.allSatisfy { HTTPFieldValidator.problem(with: $0) == nil }, "accepted an invalid field")
    var offered = 0
    for _ in 0..<Int(input.byte() % 8) {
        let chunk = Int(input.byte()) * Int(input.byte() % 4 + 1)
        offered += chunk
        let allowed = framing.admit(chunk)
        fuzzCheck(allowed >= 0 && allowed <= chunk, "admitted \(allowed) of \(chunk)")
    }
    fuzzCheck(framing.sent + framing.excess == offered, "bytes lost: \(framing.sent) + \(framing.excess) != \(offered)")
    if !framing.bodyAllowed { fuzzCheck(framing.sent == 0, "body sent for status \(status) to \(method)") }
    if let declared = framing.declaredLength {
        fuzzCheck(framing.sent <= declared, "sent \(framing.sent) past the declared \(declared)")
        if framing.bodyAllowed { fuzzCheck(framing.shortfall == (framing.sent < declared ? declared - framing.sent : nil), "shortfall") }
    }
    return 0
}
