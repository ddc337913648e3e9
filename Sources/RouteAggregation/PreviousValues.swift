/// A proxy's previous value of every series, in 4 bytes each instead of 8.
///
/// Counters on a proxy page are whole numbers, almost always below 2^32 (a series at 1,000
/// requests a second takes seven weeks to get there), and those are stored exactly as a
/// `UInt32`. Anything else (a histogram sum in seconds, a counter past 2^32) is kept exactly in a
/// side table. There is one of these per proxy and one entry per series: at a thousand proxies of
/// three thousand series, the 4 bytes saved are 12 MB.
struct PreviousValues: Sendable {
    private var compact: [UInt32] = []
    private var wide: [Int32: Double] = [:]
    private static let unknown: UInt32 = .max
    private static let inWide: UInt32 = .max - 1
    /// Unknown, and numbered only on the page being read (a renumbering carries such series
    /// over): its first value is all new.
    private static let fresh: UInt32 = .max - 2

    init() {}

    /// `count` unknown (NaN) values.
    init(unknownCount count: Int) {
        compact = Array(repeating: Self.unknown, count: count)
    }

    var count: Int { compact.count }

    mutating func reserveCapacity(_ capacity: Int) { compact.reserveCapacity(capacity) }

    /// The value at `index`; NaN when unknown.
    @inline(__always)
    subscript(index: Int) -> Double {
        let stored = compact[index]
        if stored < Self.fresh { return Double(stored) }
        return stored == Self.inWide ? wide[Int32(index), default: .nan] : .nan
    }

    /// Whether the series at `index` was first numbered on the page being read: beyond the
    /// values kept, or carried over a renumbering as new.
    func isFresh(_ index: Int) -> Bool { index >= compact.count || compact[index] == Self.fresh }

    /// Appends a series whose next value is all new (its counter started again from zero).
    mutating func appendFresh() { compact.append(Self.fresh) }

    /// Appends the series at `index` of `other` as it is there: its value, unknown or fresh.
    @inline(__always)
    mutating func append(keeping index: Int, of other: PreviousValues) {
        guard index < other.compact.count else { return compact.append(Self.unknown) }
        let stored = other.compact[index]
        if stored == Self.inWide { wide[Int32(compact.count)] = other.wide[Int32(index)] }
        compact.append(stored)
    }

    /// Marks the series at `index` as numbered on the page being read.
    mutating func setFresh(at index: Int) {
        wide[Int32(index)] = nil
        compact[index] = Self.fresh
    }

    @inline(__always)
    mutating func append(_ value: Double) {
        compact.append(Self.encode(value, at: compact.count, &wide))
    }

    mutating func set(_ value: Double, at index: Int) {
        wide[Int32(index)] = nil
        compact[index] = Self.encode(value, at: index, &wide)
    }

    @inline(__always)
    private static func encode(_ value: Double, at index: Int, _ wide: inout [Int32: Double]) -> UInt32 {
        if value.isNaN { return unknown }
        if value >= 0, value < Double(fresh), value == value.rounded(.towardZero) { return UInt32(value) }
        wide[Int32(index)] = value
        return inWide
    }
}
