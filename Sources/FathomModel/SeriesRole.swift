/// What one raw series of a proxy page contributes to its route.
public enum SeriesRole: Sendable, Hashable {
    /// A counter of completed responses, classified by Linkerd's success rules, and why they
    /// counted as they did.
    case responses(success: Bool, outcome: ResponseOutcome = ResponseOutcome())
    /// A cumulative histogram bucket; the bound is in seconds (`+infinity` for `le="+Inf"`).
    case latencyBucket(upperBoundSeconds: Double)
    /// A histogram sum, in units of which `unitsPerSecond` make a second (1000 for `_ms` families).
    case latencySum(unitsPerSecond: Double)
    /// A counter of the connections of a TCP route.
    case tcp(TCPCounter)
    /// A counter of the inbound policy's decisions.
    case authorization(AuthorizationDecision)
    /// A counter of an HTTPRoute's or GRPCRoute's retries.
    case retries(RetryCounter)
    /// The gauge of a TCP route's connections open now (`tcp_open_connections`): summed over the
    /// pods as they are at the window's end, never differenced.
    case openConnections
}

/// What a route's retry counter counts (`outbound_{http,grpc}_route_retry_*_total`, Linkerd 2.17+).
public enum RetryCounter: Sendable, Hashable, CaseIterable {
    /// Retries the proxy sent.
    case requests
    /// Retries that succeeded.
    case successes
    /// Requests that wanted another retry past the route's retry limit.
    case limitExceeded
    /// Requests not retried because the retry budget or buffer was full.
    case overflow
}

/// A decision of a pod's inbound policy, as its proxy counts it.
public enum AuthorizationDecision: Sendable, Hashable, CaseIterable {
    case httpAllowed, httpDenied, tcpAllowed, tcpDenied
    /// An open connection closed after a policy change no longer allowed it.
    case tcpTerminated
    /// A request that matched no route of its server.
    case routeNotFound
    /// A request refused by the server's local rate limit.
    case rateLimited

    /// Whether the policy let the request or connection through.
    public var isAllowed: Bool { self == .httpAllowed || self == .tcpAllowed }

    /// A short name for tables and logs: `http-denied`, `route-not-found`, ...
    public var name: String {
        switch self {
        case .httpAllowed: "http-allowed"
        case .httpDenied: "http-denied"
        case .tcpAllowed: "tcp-allowed"
        case .tcpDenied: "tcp-denied"
        case .tcpTerminated: "tcp-terminated"
        case .routeNotFound: "route-not-found"
        case .rateLimited: "rate-limited"
        }
    }
}

/// What a TCP counter counts.
public enum TCPCounter: Sendable, Hashable {
    case opened
    /// Connections closed, cleanly (`errno` 0) or with an error: an index into `errnoNames`.
    case closed(errno: UInt8)
    /// Bytes the proxy read from the peer, or wrote to it.
    case bytesRead, bytesWritten

    /// The `errno` values a close is counted by: empty for a clean close, the usual socket
    /// errors, the route families' close errors, and `other`.
    public static let errnoNames = [
        "", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH",
        "ENOTCONN", "ESHUTDOWN", "EIO",
        // The TCPRoute and TLSRoute families' close `error` (LINKERD-FACTS §2.2).
        "forbidden", "invalid_backend", "invalid_policy", "unexpected", "other",
    ]

    /// The index of an `errno` label value (`other` past the known ones).
    public static func errno(_ name: String?) -> UInt8 {
        UInt8(errnoNames.firstIndex(of: name ?? "") ?? errnoNames.count - 1)
    }
}

/// A raw series: which route it belongs to (an index into `ProxySnapshot.routes`), its role (an
/// index into `ProxySnapshot.roles`) and whether it continues the histogram of the series before
/// it, packed in four bytes, as a proxy may have thousands of series and an agent a thousand
/// proxies. A proxy has only a few dozen distinct roles, so 255 are allowed, and up to 2^23 routes.
///
/// The series of one raw histogram (its buckets and sum: one label set but `le`) reset together:
/// a proxy that dropped an idle histogram and created it again starts every bucket from zero. A
/// bucket that had as many hits before as after shows no decrease, though, so only the histogram
/// as a whole tells. Pages list a histogram's series together, so the decoder numbers them
/// consecutively and marks each one after the first with `continuesHistogram`: a run of marked
/// series after an unmarked one is one histogram, at no cost in memory.
///
/// A decoder also numbers series it tracks but does not aggregate (other families, the start
/// time); those have the role `notRoute`, and their value in a snapshot is always NaN.
public struct SeriesDescriptor: Sendable, Equatable {
    private var packed: UInt32

    /// The role number of a series that belongs to no route.
    public static let notRoute: UInt8 = .max
    /// Route numbers must stay below this.
    public static let routeLimit = 1 << 23
    /// Role numbers must stay below this (`notRoute` is reserved).
    public static let roleLimit = Int(notRoute)
    private static let continuesBit: UInt32 = 1 << 23

    /// - Parameters:
    ///   - route: below `routeLimit`.
    ///   - role: below `roleLimit`, or `notRoute`.
    ///   - continuesHistogram: the series belongs to the same raw histogram as the series numbered
    ///     just before it.
    public init(route: Int32, role: UInt8, continuesHistogram: Bool = false) {
        precondition(route >= 0 && Int(route) < Self.routeLimit, "route number out of range")
        packed = UInt32(route) | UInt32(role) << 24 | (continuesHistogram ? Self.continuesBit : 0)
    }

    /// A series that belongs to no route; `tag` is for the decoder's own use.
    public static func untracked(tag: Int32) -> SeriesDescriptor { SeriesDescriptor(route: tag, role: notRoute) }

    public var route: Int32 { Int32(packed & (Self.continuesBit - 1)) }
    public var role: UInt8 { UInt8(truncatingIfNeeded: packed >> 24) }
    /// Whether the series belongs to the same raw histogram as the series before it.
    public var continuesHistogram: Bool { packed & Self.continuesBit != 0 }
    /// Whether the series counts towards a route.
    public var isRoute: Bool { role != Self.notRoute }

    /// The same series, marked as starting a histogram of its own.
    public var startingHistogram: SeriesDescriptor {
        var copy = self
        copy.packed &= ~Self.continuesBit
        return copy
    }
}
