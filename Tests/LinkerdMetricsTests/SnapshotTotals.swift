import FathomModel

/// Sums a snapshot's raw series per route, for assertions.
struct RouteTotals: Equatable {
    var success = 0.0
    var failure = 0.0
    /// Cumulative bucket counts by upper bound in seconds.
    var buckets: [Double: Double] = [:]
    var latencySumSeconds = 0.0
    var tcp: [TCPCounter: Double] = [:]
    var authorization: [AuthorizationDecision: Double] = [:]
    var retries: [RetryCounter: Double] = [:]
    var openConnections = 0.0
}

extension ProxySnapshot {
    func totals() -> [RouteIdentity: RouteTotals] {
        var result: [RouteIdentity: RouteTotals] = [:]
        for (index, descriptor) in series.enumerated() where !values[index].isNaN {
            let route = routes[Int(descriptor.route)]
            let value = values[index]
            switch role(of: descriptor) {
            case .responses(let success, _):
                if success {
                    result[route, default: RouteTotals()].success += value
                } else {
                    result[route, default: RouteTotals()].failure += value
                }
            case .latencyBucket(let bound):
                result[route, default: RouteTotals()].buckets[bound, default: 0] += value
            case .latencySum(let unitsPerSecond):
                result[route, default: RouteTotals()].latencySumSeconds += value / unitsPerSecond
            case .tcp(let counter):
                result[route, default: RouteTotals()].tcp[counter, default: 0] += value
            case .authorization(let decision):
                result[route, default: RouteTotals()].authorization[decision, default: 0] += value
            case .retries(let counter):
                result[route, default: RouteTotals()].retries[counter, default: 0] += value
            case .openConnections:
                result[route, default: RouteTotals()].openConnections += value
            }
        }
        return result
    }

    /// Responses per route by outcome, written `status class|gRPC status|error` (empty parts
    /// kept), for assertions.
    func outcomes() -> [RouteIdentity: [String: Double]] {
        var result: [RouteIdentity: [String: Double]] = [:]
        for (index, descriptor) in series.enumerated() where !values[index].isNaN {
            guard case .responses(_, let outcome) = role(of: descriptor) else { continue }
            let name = [outcome.statusClassName, outcome.grpcStatusName, outcome.errorName].joined(separator: "|")
            result[routes[Int(descriptor.route)], default: [:]][name, default: 0] += values[index]
        }
        return result
    }
}
