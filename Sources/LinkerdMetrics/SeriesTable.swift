/// An open-addressing hash table from a series' fingerprint (and key length) to what the decoder
/// knows about it. It stores no key text, so a series costs 24 bytes here whatever its label size.
struct SeriesTable: Sendable {
    /// What a table slot maps a series to.
    struct Entry: Sendable {
        var fingerprint: UInt64
        /// Length of the series key in bytes; 0 marks an empty slot (a real key is never empty).
        var length: UInt32
        /// A series index (>= 0) or one of the markers below.
        var target: Int32
        /// The number of the last page the series was on, to drop series a proxy stopped reporting.
        var lastSeen: UInt32
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
        slots = Array(repeating: Entry(fingerprint: 0, length: 0, target: 0, lastSeen: 0), count: size)
        mask = size - 1
    }

    /// The target of the series, or nil when it has not been inserted; marks it seen on `page`.
    @inline(__always)
    mutating func find(_ fingerprint: UInt64, length: Int, page: UInt32) -> Int32? {
        let length = UInt32(truncatingIfNeeded: length)
        return slots.withUnsafeMutableBufferPointer { slots in
            var index = Int(truncatingIfNeeded: fingerprint) & mask
            while true {
                let entry = slots[index]
                if entry.length == 0 { return nil }
                if entry.fingerprint == fingerprint && entry.length == length {
                    slots[index].lastSeen = page
                    return entry.target
                }
                index = (index + 1) & mask
            }
        }
    }

    mutating func insert(_ fingerprint: UInt64, length: Int, target: Int32, page: UInt32) {
        if (count + 1) * 2 > slots.count { grow() }
        place(
            Entry(fingerprint: fingerprint, length: UInt32(truncatingIfNeeded: length), target: target, lastSeen: page))
        count += 1
    }

    /// Entries not seen since `page`.
    func staleCount(before page: UInt32) -> Int {
        slots.reduce(0) { $0 + ($1.length != 0 && $1.lastSeen < page ? 1 : 0) }
    }

    /// A table without the entries not seen since `page`, route series targets mapped through
    /// `remap` (old index → new index).
    func compacted(keepingSince page: UInt32, remap: [Int32]) -> SeriesTable {
        var table = SeriesTable(capacity: max(512, count))
        for var entry in slots where entry.length != 0 && entry.lastSeen >= page {
            if entry.target >= 0 { entry.target = remap[Int(entry.target)] }
            table.place(entry)
            table.count += 1
        }
        return table
    }

    /// For each series index below `seriesCount`, whether its entry was seen since `page`.
    func liveSeries(since page: UInt32, seriesCount: Int) -> [Bool] {
        var live = Array(repeating: false, count: seriesCount)
        for entry in slots where entry.length != 0 && entry.target >= 0 && entry.lastSeen >= page {
            live[Int(entry.target)] = true
        }
        return live
    }

    private mutating func place(_ entry: Entry) {
        var index = Int(truncatingIfNeeded: entry.fingerprint) & mask
        while slots[index].length != 0 { index = (index + 1) & mask }
        slots[index] = entry
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Entry(fingerprint: 0, length: 0, target: 0, lastSeen: 0), count: old.count * 2)
        mask = slots.count - 1
        for entry in old where entry.length != 0 { place(entry) }
    }
}
