import FathomModel
import RouteAggregation

/// One route of a window as `/debug/routes` serves it and `fathom-agent routes` reads it; also the
/// row model of `RouteTable`.
public struct DebugRoute: Codable, Sendable, Equatable {
    public var namespace: String
    public var workload: String
    public var workloadKind: String
    /// The workload's revision whose pods the traffic is of; nil from agents before it was kept.
    public var revision: String?
    public var direction: String
    public var kind: String
    public var target: String
    public var route: String
    public var peer: String
    /// Whether the edge was mTLS, or why not (`EdgeSecurity`'s names: `mtls`, `no-tls-from-remote`,
    /// ...); nil where the family does not say, or from older agents.
    public var security: String?
    /// The destination's mesh identity when mTLS (outbound); nil without.
    public var peerIdentity: String?
    /// The destination's revision (`3`), else its ReplicaSet as the proxy names it; nil without.
    public var peerRevision: String?
    /// True for the series holding the workload's routes past the cardinality cap.
    public var overflow: Bool
    public var foldedRoutes: Int
    /// Responses by Linkerd's classification; for a TCP route, connections closed cleanly and
    /// with an error; for a policy route, decisions allowing and refusing.
    public var success: Double
    public var failure: Double
    /// The most common reason of the failures (an error reason, else the gRPC status, else the
    /// HTTP status class) and how many had it; nil without failures, or from older agents.
    public var topFailure: String?
    public var topFailureCount: Double?
    /// Every failure reason and how many had it (what `topFailure` is the largest of), so rows
    /// can be summed into a revision's or a workload's; nil without failures, or from older agents.
    public var failures: [String: Double]?
    /// Responses per second over the window; a TCP route's connections opened, a policy route's
    /// decisions.
    public var rps: Double
    /// A TCP route's bytes read from and written to its peers over the window; nil for others.
    public var bytesRead: Double?
    public var bytesWritten: Double?
    /// A TCP route's connections open at the window's end; nil for others.
    public var openConnections: Double?
    /// An HTTPRoute's or GRPCRoute's retries sent over the window, and how many succeeded; nil
    /// where its proxies export none (before Linkerd 2.17).
    public var retries: Double?
    public var retriesSucceeded: Double?
    /// Latency quantiles in seconds; nil without observations.
    public var p50: Double?
    public var p95: Double?
    public var p99: Double?
    /// The latency histogram: its finite upper bounds in seconds, and its cumulative counts with
    /// the `+Inf` bucket's last, so summed rows' quantiles are `histogram_quantile` over summed
    /// buckets; nil without an `+Inf`-bounded histogram, or from older agents.
    public var latencyBounds: [Double]?
    public var latencyCounts: [Double]?

    public init(_ route: RouteWindow) {
        namespace = route.key.workload.namespace
        workload = route.key.workload.name
        workloadKind = route.key.workload.kind
        revision = route.key.revision
        direction = route.key.identity.direction.rawValue
        kind = RouteTable.kind(route.key.identity)
        target = route.key.identity.target
        self.route = route.key.identity.route
        peer = route.key.identity.peer
        let identity = route.key.identity
        security = identity.security == .unreported ? nil : identity.security.rawValue
        peerIdentity = identity.peerIdentity.isEmpty ? nil : identity.peerIdentity
        peerRevision = [route.peerRevision, identity.peerReplicaSet].first { !$0.isEmpty }
        overflow = route.key.isOverflow
        foldedRoutes = route.foldedRoutes
        success = route.successCount
        failure = route.failureCount
        var reasons: [String: Double] = [:]
        for failed in route.outcomes where !failed.success {
            let outcome = failed.outcome
            let reason = [outcome.errorName, outcome.grpcStatusName, outcome.statusClassName].first { !$0.isEmpty }
            reasons[reason ?? "unclassified", default: 0] += failed.count
        }
        rps = route.requestRate
        if let retried = route.retries {
            retries = retried[.requests] ?? 0
            retriesSucceeded = retried[.successes] ?? 0
        }
        if let tcp = route.tcp {
            let clean = tcp.closedByErrno[0] ?? 0
            success = clean
            failure = tcp.closed - clean
            reasons = [:]
            for (errno, count) in tcp.closedByErrno where errno != 0 {
                reasons[TCPCounter.errnoNames[Int(errno)], default: 0] += count
            }
            rps = route.duration > 0 ? tcp.opened / route.duration : 0
            bytesRead = tcp.bytesRead
            bytesWritten = tcp.bytesWritten
            openConnections = tcp.openConnections
        }
        if let decisions = route.authorization {
            let allowed = decisions.filter(\.key.isAllowed).values.reduce(0, +)
            let all = decisions.values.reduce(0, +)
            success = allowed
            failure = all - allowed
            reasons = [:]
            for (decision, count) in decisions where !decision.isAllowed { reasons[decision.name, default: 0] += count }
            rps = route.duration > 0 ? all / route.duration : 0
        }
        setFailures(reasons)
        setLatency(route.latency)
    }

    /// Keeps `reasons` (nil when empty) and names the commonest as the top failure.
    mutating func setFailures(_ reasons: [String: Double]) {
        let counted = reasons.filter { $0.value > 0 }
        failures = counted.isEmpty ? nil : counted
        // Ties go to the name first in order, so the same counts always show the same reason.
        let top = counted.max { ($0.value, $1.key) < ($1.value, $0.key) }
        topFailure = top?.key
        topFailureCount = top?.value
    }

    /// Keeps `histogram`'s buckets (when it has an `+Inf` one) and its quantiles.
    mutating func setLatency(_ histogram: LatencyHistogram) {
        func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
        p50 = finite(histogram.quantile(0.5))
        p95 = finite(histogram.quantile(0.95))
        p99 = finite(histogram.quantile(0.99))
        if histogram.upperBounds.last == .infinity {
            latencyBounds = Array(histogram.upperBounds.dropLast())
            latencyCounts = histogram.cumulativeCounts
        } else {
            latencyBounds = nil
            latencyCounts = nil
        }
    }

    /// The latency histogram `latencyBounds` and `latencyCounts` carry; nil without.
    public var latencyHistogram: LatencyHistogram? {
        guard let latencyBounds, let latencyCounts, latencyCounts.count == latencyBounds.count + 1 else {
            return nil
        }
        return LatencyHistogram(upperBounds: latencyBounds + [.infinity], cumulativeCounts: latencyCounts)
    }

    /// Successful fraction of responses; nil when there were none.
    public var successRate: Double? { success + failure > 0 ? success / (success + failure) : nil }
}
