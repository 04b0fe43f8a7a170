/// A dictionary that remembers the order of use: a hash map threaded by a doubly linked list.
///
/// Lookup, insertion, removal, "mark as used" and "remove the least recently used" are all O(1).
/// The order is the order of use itself, not a clock reading, so clock adjustments cannot reorder
/// it and two uses in the same clock tick are still told apart.
struct LRUTable<Key: Hashable, Value> {
    private struct Node {
        var value: Value
        var older: Key?
        var newer: Key?
    }

    private var nodes: [Key: Node] = [:]
    private var oldest: Key?
    private var newest: Key?

    /// Creates an empty table.
    init() {}

    /// The number of entries.
    var count: Int { nodes.count }

    /// The keys, least recently used first.
    var keys: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(nodes.count)
        var cursor = oldest
        while let key = cursor {
            keys.append(key)
            cursor = nodes[key]?.newer
        }
        return keys
    }

    /// The value for `key`, without marking it as used.
    subscript(key: Key) -> Value? {
        nodes[key]?.value
    }

    /// Marks `key` as the most recently used and returns its value; `nil` if absent.
    mutating func touch(_ key: Key) -> Value? {
        guard let node = unlink(key) else { return nil }
        link(key, node.value)
        return node.value
    }

    /// Inserts (or replaces) `key` as the most recently used entry.
    mutating func insert(_ key: Key, _ value: Value) {
        _ = unlink(key)
        link(key, value)
    }

    /// Removes `key`; its value, or `nil` if absent.
    @discardableResult
    mutating func remove(_ key: Key) -> Value? {
        unlink(key)?.value
    }

    /// Removes the least recently used entry.
    mutating func removeOldest() -> (key: Key, value: Value)? {
        guard let key = oldest, let node = unlink(key) else { return nil }
        return (key, node.value)
    }

    /// Removes every entry; their values, least recently used first.
    mutating func removeAll() -> [Value] {
        let values = keys.compactMap { nodes[$0]?.value }
        nodes = [:]
        oldest = nil
        newest = nil
        return values
    }

    private mutating func link(_ key: Key, _ value: Value) {
        nodes[key] = Node(value: value, older: newest, newer: nil)
        if let newest { nodes[newest]?.newer = key } else { oldest = key }
        newest = key
    }

    private mutating func unlink(_ key: Key) -> Node? {
        guard let node = nodes.removeValue(forKey: key) else { return nil }
        if let older = node.older { nodes[older]?.newer = node.newer } else { oldest = node.newer }
        if let newer = node.newer { nodes[newer]?.older = node.older } else { newest = node.older }
        return node
    }
}
