/// One name and value of a query string or form.
public struct FormField: Sendable, Hashable {
    /// The field's name (may be empty: `=x` has an empty name).
    public var name: String
    /// The field's value (empty for `a` and `a=`).
    public var value: String

    /// Creates a field.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The fields of a query string or form, in the order they came, repeated names kept.
///
/// The WHATWG URL standard's "list of name-value tuples" (what `URLSearchParams` holds, and
/// werkzeug's `MultiDict`): the subscript gives the first value of a name, ``values(for:)``
/// all of them. Names are matched code point by code point, as in Python and JavaScript, not by
/// Swift's canonical equivalence (`"e\u{301}"` is not `"é"` here).
///
/// ```swift
/// let query = try FormFields(urlEncoded: Array("tag=a&tag=b&q=caf%C3%A9".utf8))
/// query["q"]                 // "café"
/// query.values(for: "tag")   // ["a", "b"]
/// ```
public struct FormFields: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// The fields in order.
    public var elements: [FormField]

    /// Creates fields from a list.
    public init(_ elements: [FormField] = []) {
        self.elements = elements
    }

    /// Creates fields from name-value pairs.
    public init(arrayLiteral pairs: (String, String)...) {
        self.elements = pairs.map { FormField(name: $0.0, value: $0.1) }
    }

    public var startIndex: Int { elements.startIndex }
    public var endIndex: Int { elements.endIndex }
    public subscript(position: Int) -> FormField { elements[position] }

    /// The first value of `name`, or `nil` when no field has that name.
    public subscript(name: String) -> String? {
        elements.first { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }

    /// Every value of `name`, in order.
    public func values(for name: String) -> [String] {
        elements.compactMap { $0.name.utf8.elementsEqual(name.utf8) ? $0.value : nil }
    }

    /// Whether a field has this name.
    public func contains(_ name: String) -> Bool {
        elements.contains { $0.name.utf8.elementsEqual(name.utf8) }
    }

    /// Appends a field.
    public mutating func append(_ name: String, _ value: String) {
        elements.append(FormField(name: name, value: value))
    }
}
