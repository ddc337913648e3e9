/// The series a decoder knows, by the 64-bit fingerprint of their text, numbered densely in the
/// order first seen.
///
/// Memory is what limits how many proxies one agent can follow (a thousand proxies of thousands
/// of series each), so an entry costs about 13 bytes and no key text: 8 bytes in a dense array
/// holding the top 48 bits of its fingerprint and the page it was last seen on (16 bits), and a
/// 4-byte entry number in an open-addressing index at most 75 % full. Looking up a fingerprint is
/// a probe of the index and a comparison with the entry it points to. 48 bits keep collisions
/// negligible: a new series meets at most about 8 entries at 75 % load, so it is taken for a known
/// one with a chance of about 2^-45; over ten million new series, about 3 in 10 million. The
/// fingerprint already mixes in the key's length.
struct SeriesTable: Sendable {
    /// Per entry: the fingerprint's top 48 bits, then the page number (modulo 2^16) it was last
    /// seen on. Ages are clamped by `clampAges` often enough that they never wrap.
    private var entries: [UInt64] = []
    private static let pageBits: UInt64 = 0xFFFF
    /// Entry number per slot, or `free`.
    private var slots: [Int32]
    private var mask: Int
    private static let free: Int32 = -1

    /// The largest age `clampAges` may be asked to keep, so ages stay below 2^16 between calls.
    static let maximumAge = 30_000

    init(capacity: Int = 1024) {
        slots = Array(repeating: Self.free, count: Self.slotCount(for: capacity))
        mask = slots.count - 1
    }

    /// Number of entries.
    var count: Int { entries.count }

    @inline(__always)
    private static func key(_ fingerprint: UInt64) -> UInt64 { fingerprint & ~pageBits }

    /// The home slot, from bits that are kept, so the index can be rebuilt from the entries.
    @inline(__always)
    private static func home(_ key: UInt64, _ mask: Int) -> Int { Int(truncatingIfNeeded: key >> 16) & mask }

    /// The entry of the series, or nil when it is not known; marks it seen on `page`.
    @inline(__always)
    mutating func find(_ fingerprint: UInt64, page: UInt16) -> Int32? {
        let mask = self.mask
        let key = Self.key(fingerprint)
        return slots.withUnsafeBufferPointer { slots in
            entries.withUnsafeMutableBufferPointer { entries in
                var index = Self.home(key, mask)
                while true {
                    let entry = slots[index]
                    if entry == Self.free { return nil }
                    if Self.key(entries[Int(entry)]) == key {
                        entries[Int(entry)] = key | UInt64(page)
                        return entry
                    }
                    index = (index + 1) & mask
                }
            }
        }
    }

    /// Adds a series not yet known and returns its entry number (the previous count).
    mutating func append(_ fingerprint: UInt64, page: UInt16) -> Int32 {
        let entry = Int32(entries.count)
        entries.append(Self.key(fingerprint) | UInt64(page))
        if entries.count * 4 > slots.count * 3 {
            rebuildIndex(slotCount: slots.count * 2)
        } else {
            place(entry)
        }
        return entry
    }

    /// How many pages ago, counted from `page`, an entry was last seen.
    @inline(__always)
    func age(of entry: Int, page: UInt16) -> Int { Int(page &- Self.lastSeen(entries[entry])) }

    @inline(__always)
    private static func lastSeen(_ entry: UInt64) -> UInt16 { UInt16(truncatingIfNeeded: entry) }

    /// Makes every entry older than `limit` pages exactly `limit` pages old. Called at least every
    /// `maximumAge` pages, it keeps 16-bit page numbers from wrapping around for series that stay
    /// absent, without changing whether any entry counts as older than `limit`.
    mutating func clampAges(to limit: Int, page: UInt16) {
        let limit = min(limit, Self.maximumAge)
        for entry in entries.indices where Int(page &- Self.lastSeen(entries[entry])) > limit {
            entries[entry] = Self.key(entries[entry]) | UInt64(page &- UInt16(limit))
        }
    }

    /// Keeps the entries `keep` accepts, renumbered densely in their order; returns the new
    /// number of each old entry, or -1 for a dropped one.
    mutating func compact(keeping keep: (Int) -> Bool) -> [Int32] {
        var renumbered = [Int32](repeating: -1, count: count)
        var kept: [UInt64] = []
        for entry in 0..<count where keep(entry) {
            renumbered[entry] = Int32(kept.count)
            kept.append(entries[entry])
        }
        entries = kept
        rebuildIndex(slotCount: Self.slotCount(for: max(512, count)))
        return renumbered
    }

    /// Makes room for `capacity` entries at once (a decoder's first page), so the arrays and the
    /// index do not grow, and get copied, a step at a time.
    mutating func reserve(_ capacity: Int) {
        guard capacity > entries.capacity else { return }
        entries.reserveCapacity(capacity)
        let needed = Self.slotCount(for: capacity)
        if needed > slots.count { rebuildIndex(slotCount: needed) }
    }

    /// Gives back the spare capacity the dense array and the index gained while growing (or were
    /// reserved), once a page has added its series.
    mutating func trimCapacity() {
        if entries.capacity > count + count / 8 { entries = entries.withoutSpareCapacity() }
        // `reserve` sized the index for every line of a first page, comments included.
        let needed = Self.slotCount(for: max(16, count))
        if needed < slots.count { rebuildIndex(slotCount: needed) }
    }

    private static func slotCount(for capacity: Int) -> Int {
        var size = 16
        while size * 3 < capacity * 4 { size <<= 1 }
        return size
    }

    private mutating func place(_ entry: Int32) {
        var index = Self.home(Self.key(entries[Int(entry)]), mask)
        while slots[index] != Self.free { index = (index + 1) & mask }
        slots[index] = entry
    }

    private mutating func rebuildIndex(slotCount: Int) {
        slots = Array(repeating: Self.free, count: slotCount)
        mask = slotCount - 1
        for entry in 0..<Int32(count) { place(entry) }
    }
}

extension Array {
    /// A copy whose buffer holds just its elements. (Converting a slice that spans the whole array
    /// would keep the old buffer, spare capacity and all.)
    func withoutSpareCapacity() -> [Element] {
        [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = buffer.initialize(fromContentsOf: self)
            initialized = count
        }
    }
}
