// FuzzURLEncodedForm: FormFields(urlEncoded:) on any bytes.
//
// Invariants: it never traps; it returns fields or a FormError at a limit; serializing the fields
// and parsing the result gives the same fields; at most `maxFields` fields come back.
import ASGIToolkit
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzURLEncodedForm(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let maxFields = Int(input.byte() % 64) + 1
    let bytes = input.rest()
    let limits = FormLimits(maxFields: maxFields, maxBytes: 8192)
    do {
        let fields = try FormFields(urlEncoded: bytes, limits: limits)
        fuzzCheck(fields.count <= maxFields, "\(fields.count) fields past the limit of \(maxFields)")
        let again = try FormFields(urlEncoded: Array(fields.urlEncoded.utf8), limits: FormLimits(maxFields: maxFields, maxBytes: 1 << 20))
        fuzzCheck(again == fields, "serialize then parse changed \(fields) into \(again)")
    } catch {
        fuzzCheck(error.code == .tooManyFields || error.code == .bodyTooLarge, "unexpected \(error)")
    }
    return 0
}
