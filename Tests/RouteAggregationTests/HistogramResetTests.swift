import FathomModel
import RouteAggregation
import Testing

/// A raw histogram that vanished from a page and returns lower resets as a whole: Linkerd drops an
/// idle histogram and creates it again from zero, and a bucket with as many hits after as before
/// shows no decrease of its own. One present all along with one bucket a little lower (a buggy
/// exporter) resets that bucket alone, as PromQL does.
@Suite struct HistogramResetTests {
    static let route = RouteIdentity(
        direction: .outbound, source: .endpoint, target: "cart.shop.svc.cluster.local:80", route: "",
        peer: "shop/deployment/cart")
    static let roles: [SeriesRole] = [
        .responses(success: true), .latencyBucket(upperBoundSeconds: 0.02), .latencyBucket(upperBoundSeconds: 0.03),
        .latencyBucket(upperBoundSeconds: .infinity), .latencySum(unitsPerSecond: 1_000),
    ]
    /// Two raw histograms of one route (say two status codes), each with its response counter.
    static let series: [SeriesDescriptor] = [
        SeriesDescriptor(route: 0, role: 0),
        SeriesDescriptor(route: 0, role: 1),
        SeriesDescriptor(route: 0, role: 2, continuesHistogram: true),
        SeriesDescriptor(route: 0, role: 3, continuesHistogram: true),
        SeriesDescriptor(route: 0, role: 4, continuesHistogram: true),
        SeriesDescriptor(route: 0, role: 0),
        SeriesDescriptor(route: 0, role: 1),
        SeriesDescriptor(route: 0, role: 2, continuesHistogram: true),
        SeriesDescriptor(route: 0, role: 3, continuesHistogram: true),
        SeriesDescriptor(route: 0, role: 4, continuesHistogram: true),
    ]

    func snapshot(_ values: [Double]) -> ProxySnapshot {
        ProxySnapshot(
            epoch: 1, routes: [Self.route], series: Self.series, roles: Self.roles, values: values,
            processStartTime: 100)
    }

    @Test func aHistogramWithOneLowerBucketCountsEveryBucketInFull() throws {
        let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
        var aggregator = RouteAggregator(startedAt: 1_000)
        // Counter, ≤20 ms, ≤30 ms, +Inf, sum in ms; then the same for the second histogram.
        aggregator.ingest(
            snapshot([100, 1, 100, 100, 2_500, 50, 10, 50, 50, 1_250]), from: ProxyID("a"), workload: web, at: 1_001)
        // Idle, the first histogram and its counter are dropped by the proxy.
        aggregator.ingest(
            snapshot([.nan, .nan, .nan, .nan, .nan, 60, 12, 60, 60, 1_500]), from: ProxyID("a"), workload: web,
            at: 1_002)
        // It comes back from zero with 4 requests, one of them at 20 ms: its ≤20 ms bucket is 1 as
        // before, so only the histogram's other series say it started again.
        aggregator.ingest(
            snapshot([4, 1, 4, 4, 100, 70, 14, 70, 70, 1_750]), from: ProxyID("a"), workload: web, at: 1_003)
        let window = aggregator.closeWindow(at: 1_010)
        let route = try #require(window.routes.first)
        #expect(route.successCount == 24)
        // First histogram: 1, 4, 4 in full; second: 4, 20, 20 as increases.
        #expect(route.latency.upperBounds == [0.02, 0.03, .infinity])
        let expected: [Double] = [5, 24, 24]
        #expect(route.latency.cumulativeCounts == expected)
        #expect(abs(route.latency.sum - (0.1 + 0.5)) < 1e-12)
    }

    @Test func aHistogramAfterAResetOneIsNotTakenForReset() throws {
        let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(
            snapshot([100, 1, 100, 100, 2_500, 50, 10, 50, 50, 1_250]), from: ProxyID("a"), workload: web, at: 1_001)
        // The second histogram's counter is lower, not its buckets: the counter is a series of its
        // own, so only it counts in full, and the buckets are increases.
        aggregator.ingest(
            snapshot([110, 1, 110, 110, 2_750, 5, 10, 55, 55, 1_375]), from: ProxyID("a"), workload: web, at: 1_002)
        let route = try #require(aggregator.closeWindow(at: 1_010).routes.first)
        #expect(route.successCount == 15)
        let expected: [Double] = [0, 15, 15]
        #expect(route.latency.cumulativeCounts == expected)
    }

    @Test func oneLowerBucketOfAHistogramPresentAllAlongResetsAloneAsInPromQL() throws {
        let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(
            snapshot([100, 1, 100, 100, 2_500, 50, 10, 50, 50, 1_250]), from: ProxyID("a"), workload: web, at: 1_001)
        // The first histogram's ≤30 ms bucket reads 99 (one below), the rest move on by 10.
        aggregator.ingest(
            snapshot([110, 1, 99, 110, 2_750, 60, 12, 60, 60, 1_500]), from: ProxyID("a"), workload: web, at: 1_002)
        let route = try #require(aggregator.closeWindow(at: 1_010).routes.first)
        #expect(route.successCount == 20)
        #expect(aggregator.stats.counterResets == 1)
        // ≤20 ms: 0 + 2; ≤30 ms: 99 (reset, as `increase` takes it) + 10; +Inf: 10 + 10; the
        // sums are increases (0.25 s and 0.25 s), not counted in full.
        let expected: [Double] = [2, 109, 20]
        #expect(route.latency.cumulativeCounts == expected)
        #expect(abs(route.latency.sum - 0.5) < 1e-12)
    }
}
