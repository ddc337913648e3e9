/// An open-addressing hash table from a series' fingerprint (and key length) to what the decoder
/// knows about it. It stores no key text, so a series costs 16 bytes here whatever its label size.
struct SeriesTable: Sendable {
    /// What a table slot maps a series to.
    struct Entry: Sendable {
        var fingerprint: UInt64
        /// Length of the series key in bytes; 0 marks an empty slot (a real key is never empty).
        var length: UInt32
        /// A series index (>= 0) or one of the markers below.
        var target: Int32
    }

    static let ignored: Int32 = -1
    static let processStartTime: Int32 = -2
    static let buildInfo: Int32 = -3

    private var slots: [Entry]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: Entry(fingerprint: 0, length: 0, target: 0), count: size)
        mask = size - 1
    }

    /// The target of the series, or nil when it has not been inserted.
    @inline(__always)
    func find(_ fingerprint: UInt64, length: Int) -> Int32? {
        let length = UInt32(truncatingIfNeeded: length)
        return slots.withUnsafeBufferPointer { slots in
            var index = Int(truncatingIfNeeded: fingerprint) & mask
            while true {
                let entry = slots[index]
                if entry.length == 0 { return nil }
                if entry.fingerprint == fingerprint && entry.length == length { return entry.target }
                index = (index + 1) & mask
            }
        }
    }

    mutating func insert(_ fingerprint: UInt64, length: Int, target: Int32) {
        if (count + 1) * 2 > slots.count { grow() }
        place(Entry(fingerprint: fingerprint, length: UInt32(truncatingIfNeeded: length), target: target))
        count += 1
    }

    private mutating func place(_ entry: Entry) {
        var index = Int(truncatingIfNeeded: entry.fingerprint) & mask
        while slots[index].length != 0 { index = (index + 1) & mask }
        slots[index] = entry
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Entry(fingerprint: 0, length: 0, target: 0), count: old.count * 2)
        mask = slots.count - 1
        for entry in old where entry.length != 0 { place(entry) }
    }
}
