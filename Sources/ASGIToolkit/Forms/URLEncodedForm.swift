// application/x-www-form-urlencoded, as the WHATWG URL standard defines it (§5 "application/
// x-www-form-urlencoded": the parser of §5.1 and the serializer of §5.2). Query strings are parsed
// the same way (what `URLSearchParams` does).

extension FormFields {
    /// Parses a query string or an `application/x-www-form-urlencoded` body.
    ///
    /// The WHATWG URL standard's urlencoded parser, step by step:
    /// 1. the input is split at `&`; empty sequences are skipped (`a&&b`, a trailing `&`);
    /// 2. a sequence is split at its first `=` into name and value (`=x` has an empty name, `a`
    ///    and `a=` an empty value, `a=b=c` the value `b=c`);
    /// 3. `+` becomes a space, then `%XX` escapes are decoded; a `%` not followed by two
    ///    hexadecimal digits (`%`, `%4`, `%zz`) is kept as it is;
    /// 4. the bytes are read as UTF-8, each ill-formed sequence replaced by U+FFFD.
    ///
    /// Repeated names are kept in order. No input traps: every byte sequence parses, or the parse
    /// stops at a limit with ``FormError`` `bodyTooLarge` or `tooManyFields` (HTTP 413). The same
    /// as Python's `urllib.parse.parse_qsl(keep_blank_values=True)` on the bytes.
    ///
    /// ```swift
    /// let fields = try FormFields(urlEncoded: Array("name=J%C3%BCrgen+M&tag=a&tag=b&=&%".utf8))
    /// // [("name", "Jürgen M"), ("tag", "a"), ("tag", "b"), ("", ""), ("%", "")]
    /// ```
    public init(urlEncoded input: some Collection<UInt8>, limits: FormLimits = FormLimits()) throws(FormError) {
        let parsed: Result<[FormField], FormError>? = input.withContiguousStorageIfAvailable { buffer in
            Self.parseURLEncoded(buffer, limits: limits)
        }
        let result = parsed ?? Array(input).withUnsafeBufferPointer { Self.parseURLEncoded($0, limits: limits) }
        self.init(try result.get())
    }

    private static func parseURLEncoded(_ input: UnsafeBufferPointer<UInt8>, limits: FormLimits) -> Result<[FormField], FormError> {
        guard input.count <= limits.maxBytes else {
            return .failure(
                FormError(
                    .bodyTooLarge,
                    "The form or query string is \(input.count) bytes, more than the limit of \(limits.maxBytes); "
                        + "send less, or raise FormLimits.maxBytes."
                )
            )
        }
        var fields: [FormField] = []
        var start = 0
        let count = input.count
        while start <= count {
            var end = start
            var equals = -1
            while end < count, input[end] != UInt8(ascii: "&") {
                if equals < 0, input[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if end > start {
                guard fields.count < limits.maxFields else {
                    return .failure(
                        FormError(
                            .tooManyFields,
                            "The form or query string has more than \(limits.maxFields) fields; "
                                + "send fewer, or raise FormLimits.maxFields."
                        )
                    )
                }
                let nameEnd = equals >= 0 ? equals : end
                let name = percentDecodedString(UnsafeBufferPointer(rebasing: input[start..<nameEnd]), plusAsSpace: true)
                let value =
                    equals >= 0
                    ? percentDecodedString(UnsafeBufferPointer(rebasing: input[(equals + 1)..<end]), plusAsSpace: true)
                    : ""
                fields.append(FormField(name: name, value: value))
            }
            start = end + 1
        }
        return .success(fields)
    }

    /// The fields serialized as `application/x-www-form-urlencoded` (WHATWG URL §5.2): names and
    /// values UTF-8 encoded and percent-encoded with ``PercentEncoding/Set/form`` (a space as
    /// `+`), joined with `=` and `&`. Parsing the result gives the same fields back.
    public var urlEncoded: String {
        var output: [UInt8] = []
        for (index, field) in elements.enumerated() {
            if index > 0 { output.append(UInt8(ascii: "&")) }
            PercentEncoding.append(field.name.utf8, .form, to: &output)
            output.append(UInt8(ascii: "="))
            PercentEncoding.append(field.value.utf8, .form, to: &output)
        }
        return String(decoding: output, as: UTF8.self)
    }
}
