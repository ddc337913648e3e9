import FathomModel
import ProxySimulation
import ReportProtos
import RouteAggregation
import Synchronization

/// Requests shown on the pages the simulated proxies served, per workload route: the ground truth
/// the end-to-end tests compare the collector's batches with.
final class ServedTruth: Sendable {
    let routes = Mutex<[RouteKey: RouteTruth]>([:])
    init() {}

    /// The `served:` callback of `SimulatedProxyServers`.
    func add(_ proxy: SimulatedProxy, _ truth: [RouteIdentity: RouteTruth]) {
        routes.withLock { routes in
            for (identity, routeTruth) in truth {
                routes[RouteKey(workload: proxy.workload, identity: identity), default: RouteTruth()].add(routeTruth)
            }
        }
    }

    /// Routes that saw at least one request.
    var expected: [RouteKey: RouteTruth] {
        routes.withLock { $0 }.filter { $0.value.success + $0.value.failure > 0 }
    }

    /// TCP routes that saw a connection and policy routes that decided one.
    var expectedConnections: [RouteKey: RouteTruth] {
        routes.withLock { $0 }.filter { !$0.value.tcp.isEmpty || !$0.value.authorization.isEmpty }
    }
}

/// TCP counters and policy decisions per route, summed over decoded batches, as the truth keeps
/// them.
func connectionCounts(in batches: [Fathom_Agent_V1_ReportBatch]) -> [RouteKey: RouteTruth] {
    var received: [RouteKey: RouteTruth] = [:]
    for batch in batches {
        for route in AggregationWindow(batch).routes where route.tcp != nil || route.authorization != nil {
            var key = route.key
            key.revision = ""
            var truth = RouteTruth()
            truth.tcp = route.tcp?.counters ?? [:]
            truth.authorization = route.authorization ?? [:]
            received[key, default: RouteTruth()].add(truth)
        }
    }
    return received
}

/// Success and failure counts per route, summed over decoded batches.
func routeCounts(in batches: [Fathom_Agent_V1_ReportBatch]) -> [RouteKey: (success: Double, failure: Double)] {
    var received: [RouteKey: (success: Double, failure: Double)] = [:]
    for batch in batches {
        // Responses only; connections and policy decisions are `connectionCounts`.
        for route in AggregationWindow(batch).routes
        where route.key.identity.source != .tcp && route.key.identity.source != .authorization {
            // The truth is per workload: its revisions' counts add up.
            var key = route.key
            key.revision = ""
            received[key, default: (0, 0)].success += route.successCount
            received[key, default: (0, 0)].failure += route.failureCount
        }
    }
    return received
}
