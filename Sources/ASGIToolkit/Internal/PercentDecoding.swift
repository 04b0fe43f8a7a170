/// The value of an ASCII hexadecimal digit, or `nil`.
@inline(__always)
func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte &- UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte &- UInt8(ascii: "a") &+ 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte &- UInt8(ascii: "A") &+ 10
    default: return nil
    }
}

/// Writes the percent-decoding of `input` to `output` (which has room for `input.count` bytes)
/// and returns how many bytes it wrote.
///
/// The WHATWG URL standard's percent-decode: `%` and two hexadecimal digits become that byte;
/// a `%` without two digits after it stays as it is. With `plusAsSpace` (forms), `+` becomes a
/// space first, so `%2B` is the only way to say `+`.
@inline(__always)
func percentDecode(
    _ input: UnsafeBufferPointer<UInt8>,
    plusAsSpace: Bool,
    into output: UnsafeMutableBufferPointer<UInt8>
) -> Int {
    var read = 0
    var written = 0
    let count = input.count
    while read < count {
        var byte = input[read]
        if byte == UInt8(ascii: "%") {
            if read + 2 < count, let high = hexDigitValue(input[read + 1]), let low = hexDigitValue(input[read + 2]) {
                byte = high << 4 | low
                read += 2
            }
        } else if plusAsSpace, byte == UInt8(ascii: "+") {
            byte = UInt8(ascii: " ")
        }
        output[written] = byte
        written += 1
        read += 1
    }
    return written
}

/// The percent-decoding of `input` read as UTF-8, ill-formed sequences replaced by U+FFFD
/// (the Encoding standard's "UTF-8 decode without BOM": a leading BOM is kept as U+FEFF).
@inline(__always)
func percentDecodedString(_ input: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool) -> String {
    var needsDecoding = false
    for byte in input where byte == UInt8(ascii: "%") || (plusAsSpace && byte == UInt8(ascii: "+")) {
        needsDecoding = true
        break
    }
    guard needsDecoding else { return String(decoding: input, as: UTF8.self) }
    // Validates the written bytes and repairs ill-formed UTF-8 with U+FFFD.
    return String(unsafeUninitializedCapacity: input.count) { output in
        percentDecode(input, plusAsSpace: plusAsSpace, into: output)
    }
}
