import FathomModel
import ReportProtos
import RouteAggregation

/// Reads route windows back out of a decoded batch: what a collector (the demo's local one, or a
/// `fathom-agent routes` client) shows.
extension RouteWindow {
    /// A route of a batch; `windowLength` stands in for `observed_seconds` in batches that lack it.
    public init(_ metrics: Fathom_Agent_V1_RouteMetrics, windowLength: Double) {
        let workload = WorkloadRef(
            kind: metrics.workload.kind, namespace: metrics.workload.namespace, name: metrics.workload.name)
        let identity = RouteIdentity(
            direction: metrics.direction == .inbound ? .inbound : .outbound,
            source: BatchBuilder.source(metrics.source) ?? .endpoint, target: metrics.target, route: metrics.route,
            peer: metrics.peer, toProxyAdmin: metrics.toProxyAdmin, security: BatchBuilder.security(metrics.security),
            peerIdentity: metrics.peerIdentity, peerReplicaSet: metrics.peerReplicaSet)
        let outcomes = metrics.outcomes.map { counted in
            OutcomeCount(
                outcome: ResponseOutcome(
                    statusClassName: counted.httpStatusClass, grpcStatus: counted.grpcStatus, error: counted.error),
                success: counted.success, count: counted.count)
        }
        self.init(
            key: RouteKey(
                workload: workload, revision: metrics.revision, identity: identity, isOverflow: metrics.overflow),
            successCount: metrics.successCount, failureCount: metrics.failureCount,
            latency: LatencyHistogram(
                upperBounds: metrics.latency.upperBoundsSeconds, cumulativeCounts: metrics.latency.cumulativeCounts,
                sum: metrics.latency.sumSeconds),
            foldedRoutes: Int(metrics.foldedRoutes),
            duration: metrics.observedSeconds > 0 ? metrics.observedSeconds : windowLength)
        self.outcomes = outcomes
        peerRevision = metrics.peerRevision
        if metrics.hasAuthorization {
            let counts = metrics.authorization
            authorization = Dictionary(
                uniqueKeysWithValues: BatchBuilder.authorizationFields.map { ($0, counts[keyPath: $1]) }.filter {
                    $0.1 > 0
                })
        }
        if metrics.hasRetries {
            let counts = metrics.retries
            retries = Dictionary(uniqueKeysWithValues: BatchBuilder.retryFields.map { ($0, counts[keyPath: $1]) })
        }
        if metrics.hasTcp {
            var tcp = TCPCounts()
            tcp.opened = metrics.tcp.connectionsOpened
            tcp.closed = metrics.tcp.connectionsClosed
            for counted in metrics.tcp.closesByErrno {
                tcp.closedByErrno[TCPCounter.errno(counted.errno)] = counted.count
            }
            tcp.bytesRead = metrics.tcp.bytesRead
            tcp.bytesWritten = metrics.tcp.bytesWritten
            tcp.openConnections = metrics.tcp.openConnections
            self.tcp = tcp
        }
    }
}

extension AggregationWindow {
    /// The window a batch reports.
    public init(_ batch: Fathom_Agent_V1_ReportBatch) {
        let start = Double(batch.windowStartUnixMs) / 1_000
        let end = Double(batch.windowEndUnixMs) / 1_000
        self.init(
            start: start, end: end, routes: batch.routeMetrics.map { RouteWindow($0, windowLength: end - start) })
    }
}
