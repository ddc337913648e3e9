import FathomModel

/// Finds a route's number among a decoder's routes. It holds only 4-byte route numbers in an
/// open-addressing table and compares against the routes array itself, where a dictionary from
/// identity to number would hold every identity a second time (about 3.5 MB at 1,000 proxies).
struct RouteIndex: Sendable {
    private var slots: [Int32]
    private var mask: Int
    private var count = 0
    private static let free: Int32 = -1

    /// An index of `routes`, numbered by position.
    init(_ routes: [RouteIdentity] = []) {
        var size = 16
        while size * 3 < routes.count * 4 { size <<= 1 }
        slots = Array(repeating: Self.free, count: size)
        mask = size - 1
        for number in routes.indices { place(Int32(number), hash: routes[number].hashValue) }
        count = routes.count
    }

    /// The number of `identity` in `routes`, or nil.
    func find(_ identity: RouteIdentity, in routes: [RouteIdentity]) -> Int32? {
        var index = identity.hashValue & mask
        while slots[index] != Self.free {
            if routes[Int(slots[index])] == identity { return slots[index] }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Records that `routes` now ends with a new route.
    mutating func appended(to routes: [RouteIdentity]) {
        guard let last = routes.last else { return }
        count += 1
        if count * 4 > slots.count * 3 {
            self = RouteIndex(routes)
        } else {
            place(Int32(routes.count - 1), hash: last.hashValue)
        }
    }

    private mutating func place(_ number: Int32, hash: Int) {
        var index = hash & mask
        while slots[index] != Self.free { index = (index + 1) & mask }
        slots[index] = number
    }
}
