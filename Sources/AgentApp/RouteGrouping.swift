import RouteAggregation

/// How `fathom-agent routes --by` folds a window's rows: one per route as the agent reports them,
/// one per revision of a workload (the old and the new side by side during a rollout, as a
/// canary analysis compares them), or one per workload. Directions and kinds are never summed
/// together: they count different things (responses, connections, policy decisions).
public enum RouteGrouping: String, CaseIterable, Sendable {
    case route
    case revision
    case workload

    /// What a folded row is identified by.
    private struct GroupKey: Hashable {
        var namespace: String
        var workloadKind: String
        var workload: String
        var revision: String?
        var direction: String
        var kind: String
    }

    /// `routes` folded into one row per group: counts, rates, bytes, failure reasons and latency
    /// buckets summed; a text column that differs inside a group shows `*`.
    public func group(_ routes: [DebugRoute]) -> [DebugRoute] {
        guard self != .route else { return routes }
        var groups: [GroupKey: [DebugRoute]] = [:]
        for route in routes {
            let key = GroupKey(
                namespace: route.namespace, workloadKind: route.workloadKind, workload: route.workload,
                revision: self == .revision ? route.revision : nil, direction: route.direction, kind: route.kind)
            groups[key, default: []].append(route)
        }
        return groups.values.map(Self.fold)
    }

    /// One row summing `members` (all of one group).
    private static func fold(_ members: [DebugRoute]) -> DebugRoute {
        var folded = members[0]
        guard members.count > 1 else { return folded }
        func shared(_ value: (DebugRoute) -> String) -> String {
            Set(members.map(value)).count == 1 ? value(folded) : "*"
        }
        func sharedOptional(_ value: (DebugRoute) -> String?) -> String? {
            Set(members.map(value)).count == 1 ? value(folded) : "*"
        }
        func summed(_ value: (DebugRoute) -> Double?) -> Double? {
            let present = members.compactMap(value)
            return present.isEmpty ? nil : present.reduce(0, +)
        }
        folded.revision = sharedOptional(\.revision)
        folded.target = shared(\.target)
        folded.route = shared(\.route)
        folded.peer = shared(\.peer)
        folded.security = sharedOptional(\.security)
        folded.peerIdentity = Set(members.map(\.peerIdentity)).count == 1 ? folded.peerIdentity : nil
        folded.peerRevision = Set(members.map(\.peerRevision)).count == 1 ? folded.peerRevision : nil
        folded.overflow = false
        folded.foldedRoutes = members.map(\.foldedRoutes).reduce(0, +)
        folded.success = members.map(\.success).reduce(0, +)
        folded.failure = members.map(\.failure).reduce(0, +)
        folded.rps = members.map(\.rps).reduce(0, +)
        folded.bytesRead = summed(\.bytesRead)
        folded.bytesWritten = summed(\.bytesWritten)
        folded.openConnections = summed(\.openConnections)
        folded.retries = summed(\.retries)
        folded.retriesSucceeded = summed(\.retriesSucceeded)
        var reasons: [String: Double] = [:]
        for member in members {
            // Rows from agents before `failures` was kept still name their commonest reason.
            let memberReasons =
                member.failures ?? member.topFailure.map { [$0: member.topFailureCount ?? 0] } ?? [:]
            reasons.merge(memberReasons, uniquingKeysWith: +)
        }
        folded.setFailures(reasons)
        folded.setLatency(summedLatency(members))
        return folded
    }

    /// The members' latency buckets summed, as `sum by (le)` does; without quantiles when their
    /// bounds differ (families with other buckets), since no sum of them is a histogram.
    private static func summedLatency(_ members: [DebugRoute]) -> LatencyHistogram {
        let histograms = members.compactMap(\.latencyHistogram)
        guard var total = histograms.first,
            histograms.allSatisfy({ $0.upperBounds == total.upperBounds })
        else { return LatencyHistogram(upperBounds: [], cumulativeCounts: []) }
        for histogram in histograms.dropFirst() {
            for index in total.cumulativeCounts.indices {
                total.cumulativeCounts[index] += histogram.cumulativeCounts[index]
            }
        }
        return total
    }
}
