/// What one raw series of a proxy page contributes to its route.
public enum SeriesRole: Sendable, Hashable {
    /// A counter of completed responses, classified by Linkerd's success rules.
    case responses(success: Bool)
    /// A cumulative histogram bucket; the bound is in seconds (`+infinity` for `le="+Inf"`).
    case latencyBucket(upperBoundSeconds: Double)
    /// A histogram sum, in units of which `unitsPerSecond` make a second (1000 for `_ms` families).
    case latencySum(unitsPerSecond: Double)
}

/// A raw series: which route it belongs to (an index into `ProxySnapshot.routes`) and its role (an
/// index into `ProxySnapshot.roles`). Eight bytes, as a proxy may have thousands of series and an
/// agent a thousand proxies; a proxy has only a few dozen distinct roles.
public struct SeriesDescriptor: Sendable, Equatable {
    public var route: Int32
    public var role: UInt16

    public init(route: Int32, role: UInt16) {
        self.route = route
        self.role = role
    }
}
