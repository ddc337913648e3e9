import FathomModel
import RouteAggregation
import Testing

/// A route's histogram holds every bound of its family, hits or not, so the quantile computed from
/// a window (or from the batch the SaaS gets) equals PromQL's `histogram_quantile` over
/// `sum by (le) (increase(..._bucket[w]))` on the same scrapes.
@Suite struct HistogramLayoutTests {
    static let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
    static let route = RouteIdentity(
        direction: .outbound, source: .httpRoute, target: "Service/shop/cart:80", route: "default/http", peer: "")

    /// One route: a success counter, then a bucket per bound (and `+Inf`). Values are cumulative.
    static func snapshot(bounds: [Double], successes: Double, buckets: [Double], startTime: Double = 100)
        -> ProxySnapshot
    {
        let all = bounds + [.infinity]
        precondition(buckets.count == all.count)
        let series =
            [(route: Int32(0), role: SeriesRole.responses(success: true))]
            + all.map { (route: Int32(0), role: SeriesRole.latencyBucket(upperBoundSeconds: $0)) }
        return ProxySnapshot(
            epoch: 1, routes: [route], seriesRoles: series, values: [successes] + buckets, processStartTime: startTime)
    }

    /// The window of one pod going from all-zero counters to `buckets`.
    static func window(bounds: [Double], buckets: [Double]) throws -> RouteWindow {
        var aggregator = RouteAggregator(startedAt: 1_000)
        let zeros = [Double](repeating: 0, count: bounds.count + 1)
        aggregator.ingest(
            snapshot(bounds: bounds, successes: 0, buckets: zeros), from: ProxyID("a"), workload: web, at: 1_001)
        aggregator.ingest(
            snapshot(bounds: bounds, successes: buckets.last!, buckets: buckets), from: ProxyID("a"), workload: web,
            at: 1_011)
        let window = aggregator.closeWindow(at: 1_020)
        return try #require(window.routes.first)
    }

    static let legacyMilliseconds: [Double] = [
        1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 10_000,
        20_000, 30_000, 40_000, 50_000,
    ]

    @Test func hitsOnlyInInfGiveTheHighestFiniteBound() throws {
        let bounds = Self.legacyMilliseconds.map { $0 / 1_000 }
        let route = try Self.window(bounds: bounds, buckets: Array(repeating: 0, count: bounds.count) + [7])
        #expect(route.latency.upperBounds == bounds + [.infinity])
        // histogram_quantile gives the highest finite bound for a rank in +Inf: 50 s.
        #expect(route.latencyQuantile(0.5) == 50)
        #expect(route.latencyQuantile(0.99) == 50)
    }

    @Test func hitsOnlyInTheLowestBucketInterpolateFromZero() throws {
        let route = try Self.window(bounds: [0.05, 0.5, 1, 10], buckets: [8, 8, 8, 8, 8])
        #expect(route.latency.cumulativeCounts == [8, 8, 8, 8, 8])
        #expect(route.latencyQuantile(0.5) == 0.025)
        #expect(abs(route.latencyQuantile(0.99) - 0.0495) < 1e-15)
    }

    @Test func aNarrowBandInterpolatesInsideItsOwnBucket() throws {
        // 10 requests between 11 and 19.5 ms: all in (10 ms, 20 ms]; the 10 ms bucket has none.
        let bounds = Self.legacyMilliseconds.map { $0 / 1_000 }
        let buckets = bounds.map { $0 >= 0.02 ? 10.0 : 0 } + [10]
        let route = try Self.window(bounds: bounds, buckets: buckets)
        #expect(abs(route.latencyQuantile(0.5) - 0.015) < 1e-15)
        #expect(abs(route.latencyQuantile(0.95) - 0.0195) < 1e-15)
        #expect(abs(route.latencyQuantile(0.99) - 0.0199) < 1e-15)
    }

    @Test func aNewRoutesFirstWindowHasEveryBound() throws {
        // The proxy was known before the route existed; the route's first page counts in full.
        var aggregator = RouteAggregator(startedAt: 1_000)
        let other = RouteIdentity(
            direction: .outbound, source: .httpRoute, target: "Service/shop/other:80", route: "default/http", peer: "")
        let before = ProxySnapshot(
            epoch: 1, routes: [other], seriesRoles: [(0, .responses(success: true))], values: [1], processStartTime: 100
        )
        aggregator.ingest(before, from: ProxyID("a"), workload: Self.web, at: 1_001)
        // Same epoch, a route added: series 0 stays the other route's counter.
        let series: [(route: Int32, role: SeriesRole)] =
            [(0, .responses(success: true)), (1, .responses(success: true))]
            + [0.05, 0.5, 1, 10, .infinity].map { (Int32(1), SeriesRole.latencyBucket(upperBoundSeconds: $0)) }
        let after = ProxySnapshot(
            epoch: 1, routes: [other, Self.route], seriesRoles: series, values: [1, 12, 0, 6, 12, 12, 12],
            processStartTime: 100)
        aggregator.ingest(after, from: ProxyID("a"), workload: Self.web, at: 1_011)
        let route = try #require(aggregator.closeWindow(at: 1_020).routes.first { $0.key.identity == Self.route })
        #expect(route.latency.upperBounds == [0.05, 0.5, 1, 10, .infinity])
        #expect(route.latency.cumulativeCounts == [0, 6, 12, 12, 12])
        // Rank 6 reaches the 0.5 s bucket exactly: 0.05 + 0.45 · 6/6.
        #expect(abs(route.latencyQuantile(0.5) - 0.5) < 1e-15)
        #expect(abs(route.latencyQuantile(0.25) - 0.275) < 1e-15)
    }

    @Test func aProxyRestartInsideTheWindowKeepsTheLayout() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        let bounds: [Double] = [0.05, 0.5, 1, 10]
        aggregator.ingest(
            Self.snapshot(bounds: bounds, successes: 20, buckets: [20, 20, 20, 20, 20]), from: ProxyID("a"),
            workload: Self.web, at: 1_001)
        // Restarted: the new counters (only slow requests) count in full.
        aggregator.ingest(
            Self.snapshot(bounds: bounds, successes: 4, buckets: [0, 0, 0, 4, 4], startTime: 1_005), from: ProxyID("a"),
            workload: Self.web, at: 1_011)
        let route = try #require(aggregator.closeWindow(at: 1_020).routes.first)
        #expect(route.latency.upperBounds == bounds + [.infinity])
        #expect(route.latency.cumulativeCounts == [0, 0, 0, 4, 4])
        #expect(route.latencyQuantile(0.5) == 5.5)
    }

    /// A proxy upgrade that changes the bounds: pods of one workload with two layouts. The window
    /// merges them as `sum by (le)` does: every bound either layout has, each the sum of the pods
    /// that report it. Counts are then not monotonic where only one layout has a bound, and the
    /// quantile repairs that as `histogram_quantile` does, so the SaaS gets what PromQL would show
    /// for the same scrapes. (Re-bucketing one layout into the other would need the observations
    /// themselves; splitting the route by proxy version would break its continuity across the
    /// upgrade. Both pods' counts stay exact either way.)
    @Test func podsWithDifferentLayoutsMergeAsSumByLe() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        let old: [Double] = [0.1, 1]
        let new: [Double] = [0.1, 0.5, 1]
        aggregator.ingest(
            Self.snapshot(bounds: old, successes: 0, buckets: [0, 0, 0]), from: ProxyID("old"), workload: Self.web,
            at: 1_001)
        aggregator.ingest(
            Self.snapshot(bounds: new, successes: 0, buckets: [0, 0, 0, 0]), from: ProxyID("new"), workload: Self.web,
            at: 1_002)
        // Old pod: 5 requests ≤ 0.1 s and 5 in (0.1, 1]; new pod: 10 in (0.5, 1].
        aggregator.ingest(
            Self.snapshot(bounds: old, successes: 10, buckets: [5, 10, 10]), from: ProxyID("old"), workload: Self.web,
            at: 1_011)
        aggregator.ingest(
            Self.snapshot(bounds: new, successes: 10, buckets: [0, 0, 10, 10]), from: ProxyID("new"),
            workload: Self.web, at: 1_012)
        let route = try #require(aggregator.closeWindow(at: 1_020).routes.first)
        #expect(route.latency.upperBounds == [0.1, 0.5, 1, .infinity])
        #expect(route.latency.cumulativeCounts == [5, 0, 20, 20])
        // histogram_quantile makes 0 at 0.5 s into 5, then rank 10 falls in (0.5, 1]: 0.5 + 0.5 · 5/15.
        #expect(abs(route.latencyQuantile(0.5) - (0.5 + 0.5 * 5 / 15)) < 1e-15)
    }
}
