import FathomModel

/// What a closed window holds: every route with traffic in it.
public struct AggregationWindow: Sendable {
    /// Seconds since the epoch.
    public var start: Double
    public var end: Double
    public var routes: [RouteWindow]

    public init(start: Double, end: Double, routes: [RouteWindow]) {
        self.start = start
        self.end = end
        self.routes = routes
    }

    public var duration: Double { end - start }
}

/// One route's traffic in one window.
public struct RouteWindow: Sendable {
    public var key: RouteKey
    public var successCount: Double
    public var failureCount: Double
    /// Merged latency buckets; empty when the family has no histogram (e.g. `route_actual_*`).
    public var latency: LatencyHistogram
    /// For an overflow series: how many route mappings were folded into it so far.
    public var foldedRoutes: Int
    /// Responses by why they counted as they did (status class, gRPC status, error reason), most
    /// first; they add up to the success and failure counts.
    public var outcomes: [OutcomeCount] = []
    /// A TCP route's connections and bytes; nil for the other sources.
    public var tcp: TCPCounts?
    /// The inbound policy's decisions on an authorization route; nil for the other sources.
    public var authorization: [AuthorizationDecision: Double]?
    /// An HTTPRoute's or GRPCRoute's retries (Linkerd 2.17+); nil where its pages have none.
    public var retries: [RetryCounter: Double]?
    /// The destination's revision number (`3`) where the inventory knows `key.identity.peerReplicaSet`;
    /// filled in when the window is reported, empty until then and where unknown.
    public var peerRevision = ""
    /// Seconds that make `requestCount / duration` the route's rate: its pods' rates, each
    /// weighted by the share of the window the pod was alive (see `RouteAggregator`).
    public var duration: Double

    public init(
        key: RouteKey, successCount: Double, failureCount: Double, latency: LatencyHistogram, foldedRoutes: Int,
        duration: Double
    ) {
        self.key = key
        self.successCount = successCount
        self.failureCount = failureCount
        self.latency = latency
        self.foldedRoutes = foldedRoutes
        self.duration = duration
    }

    /// Completed responses.
    public var requestCount: Double { successCount + failureCount }

    /// Responses per second over the time the counts cover.
    public var requestRate: Double { duration > 0 ? requestCount / duration : 0 }

    /// Successful fraction of responses; nil when there were none.
    public var successRate: Double? { requestCount > 0 ? successCount / requestCount : nil }

    /// Latency quantile in seconds as `histogram_quantile` gives it (NaN without observations).
    public func latencyQuantile(_ q: Double) -> Double { latency.quantile(q) }
}
