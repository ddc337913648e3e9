import FathomModel

/// Sums a snapshot's raw series per route, for assertions.
struct RouteTotals: Equatable {
    var success = 0.0
    var failure = 0.0
    /// Cumulative bucket counts by upper bound in seconds.
    var buckets: [Double: Double] = [:]
    var latencySumSeconds = 0.0
}

extension ProxySnapshot {
    func totals() -> [RouteIdentity: RouteTotals] {
        var result: [RouteIdentity: RouteTotals] = [:]
        for (index, descriptor) in series.enumerated() where !values[index].isNaN {
            let route = routes[Int(descriptor.route)]
            let value = values[index]
            switch role(of: descriptor) {
            case .responses(let success):
                if success {
                    result[route, default: RouteTotals()].success += value
                } else {
                    result[route, default: RouteTotals()].failure += value
                }
            case .latencyBucket(let bound):
                result[route, default: RouteTotals()].buckets[bound, default: 0] += value
            case .latencySum(let unitsPerSecond):
                result[route, default: RouteTotals()].latencySumSeconds += value / unitsPerSecond
            }
        }
        return result
    }
}
