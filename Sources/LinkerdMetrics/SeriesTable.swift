/// An open-addressing hash table from a series' fingerprint to what the decoder knows about it.
/// It stores no key text: a series costs 16 bytes per slot at most 75 % full, whatever its label
/// size, which matters with a thousand proxies of thousands of series each. The fingerprint
/// already mixes in the key's length.
struct SeriesTable: Sendable {
    /// What a table slot maps a series to.
    struct Entry: Sendable {
        var fingerprint: UInt64
        /// A series index (>= 0), one of the markers below, or `empty`.
        var target: Int32
        /// The number of the last page the series was on, to drop series a proxy stopped reporting.
        var lastSeen: UInt32
    }

    static let ignored: Int32 = -1
    static let processStartTime: Int32 = -2
    static let buildInfo: Int32 = -3
    /// Marks a free slot.
    static let empty: Int32 = .min
    private static let emptyEntry = Entry(fingerprint: 0, target: empty, lastSeen: 0)

    private var slots: [Entry]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size * 3 < capacity * 4 { size <<= 1 }
        slots = Array(repeating: Self.emptyEntry, count: size)
        mask = size - 1
    }

    /// The target of the series, or nil when it has not been inserted; marks it seen on `page`.
    @inline(__always)
    mutating func find(_ fingerprint: UInt64, page: UInt32) -> Int32? {
        slots.withUnsafeMutableBufferPointer { slots in
            var index = Int(truncatingIfNeeded: fingerprint) & mask
            while true {
                let entry = slots[index]
                if entry.target == Self.empty { return nil }
                if entry.fingerprint == fingerprint {
                    slots[index].lastSeen = page
                    return entry.target
                }
                index = (index + 1) & mask
            }
        }
    }

    mutating func insert(_ fingerprint: UInt64, target: Int32, page: UInt32) {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        place(Entry(fingerprint: fingerprint, target: target, lastSeen: page))
        count += 1
    }

    /// Entries not seen since `page`.
    func staleCount(before page: UInt32) -> Int {
        slots.reduce(0) { $0 + ($1.target != Self.empty && $1.lastSeen < page ? 1 : 0) }
    }

    /// A table without the entries not seen since `page`, route series targets mapped through
    /// `remap` (old index → new index).
    func compacted(keepingSince page: UInt32, remap: [Int32]) -> SeriesTable {
        var table = SeriesTable(capacity: max(512, count))
        for var entry in slots where entry.target != Self.empty && entry.lastSeen >= page {
            if entry.target >= 0 { entry.target = remap[Int(entry.target)] }
            table.place(entry)
            table.count += 1
        }
        return table
    }

    /// For each series index below `seriesCount`, whether its entry was seen since `page`.
    func liveSeries(since page: UInt32, seriesCount: Int) -> [Bool] {
        var live = Array(repeating: false, count: seriesCount)
        for entry in slots where entry.target >= 0 && entry.lastSeen >= page {
            live[Int(entry.target)] = true
        }
        return live
    }

    private mutating func place(_ entry: Entry) {
        var index = Int(truncatingIfNeeded: entry.fingerprint) & mask
        while slots[index].target != Self.empty { index = (index + 1) & mask }
        slots[index] = entry
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Self.emptyEntry, count: old.count * 2)
        mask = slots.count - 1
        for entry in old where entry.target != Self.empty { place(entry) }
    }
}
