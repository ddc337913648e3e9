import FathomModel
import RouteAggregation
import Testing

/// Builds snapshots the way a decoder numbers series: one route with a response counter pair and
/// a three-bucket histogram.
struct SnapshotBuilder {
    static let route = RouteIdentity(
        direction: .outbound, source: .httpRoute, target: "Service/shop/cart:80", route: "default/http", peer: "")
    static let series: [(route: Int32, role: SeriesRole)] = [
        (0, .responses(success: true)),
        (0, .responses(success: false)),
        (0, .latencyBucket(upperBoundSeconds: 0.1)),
        (0, .latencyBucket(upperBoundSeconds: 1)),
        (0, .latencyBucket(upperBoundSeconds: .infinity)),
        (0, .latencySum(unitsPerSecond: 1_000)),
    ]

    var epoch: UInt64 = 7
    var startTime: Double? = 100

    /// Values in series order: success, failure, ≤0.1 s, ≤1 s, +Inf, sum in ms. NaN = absent.
    func snapshot(_ values: [Double], badLines: Int = 0) -> ProxySnapshot {
        var stats = PageStats()
        stats.badLines = badLines
        return ProxySnapshot(
            epoch: epoch, routes: [Self.route], seriesRoles: Self.series, values: values, processStartTime: startTime,
            stats: stats)
    }
}

@Suite struct RouteAggregatorTests {
    let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
    let podA = ProxyID("pod-a")
    let podB = ProxyID("pod-b")
    let builder = SnapshotBuilder()

    func single(_ window: AggregationWindow) throws -> RouteWindow {
        try #require(window.routes.count == 1)
        return window.routes[0]
    }

    @Test func firstPageIsBaselineThenDeltasCount() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([90, 10, 50, 95, 100, 20_000]), from: podA, workload: web)
        #expect(aggregator.closeWindow(at: 1_010).routes.isEmpty)

        aggregator.ingest(builder.snapshot([120, 15, 60, 130, 135, 26_000]), from: podA, workload: web)
        let route = try single(aggregator.closeWindow(at: 1_020))
        #expect(route.key == RouteKey(workload: web, identity: SnapshotBuilder.route))
        #expect(route.successCount == 30)
        #expect(route.failureCount == 5)
        #expect(route.requestRate == 3.5)
        #expect(route.successRate == 30.0 / 35.0)
        #expect(route.latency.upperBounds == [0.1, 1, .infinity])
        #expect(route.latency.cumulativeCounts == [10, 35, 35])
        #expect(route.latency.sum == 6)
        // rank 17.5 falls in (0.1, 1]: 0.1 + 0.9·(17.5 − 10)/25.
        #expect(abs(route.latencyQuantile(0.5) - 0.37) < 1e-12)
    }

    @Test func proxyStartedAfterAgentCountsItsFirstPage() throws {
        var aggregator = RouteAggregator(startedAt: 50)
        aggregator.ingest(builder.snapshot([4, 1, 5, 5, 5, 100]), from: podA, workload: web)
        let route = try single(aggregator.closeWindow(at: 60))
        #expect(route.successCount == 4)
        #expect(route.failureCount == 1)
    }

    @Test func counterResetCountsNewValue() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([100, 10, 100, 110, 110, 1_000]), from: podA, workload: web)
        // Success went down: reset; it counts 7. Failure grew by 2.
        aggregator.ingest(builder.snapshot([7, 12, 100, 110, 110, 1_000]), from: podA, workload: web)
        let route = try single(aggregator.closeWindow(at: 1_010))
        #expect(route.successCount == 7)
        #expect(route.failureCount == 2)
        #expect(aggregator.stats.counterResets == 1)
    }

    @Test func restartCountsEverythingEvenIfValuesGrew() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        var before = builder
        before.startTime = 100
        aggregator.ingest(before.snapshot([5, 0, 5, 5, 5, 10]), from: podA, workload: web)
        var after = builder
        after.startTime = 2_000
        // After the restart the counter reads 8, higher than the 5 before: still all new.
        aggregator.ingest(after.snapshot([8, 1, 9, 9, 9, 30]), from: podA, workload: web)
        let route = try single(aggregator.closeWindow(at: 2_010))
        #expect(route.successCount == 8)
        #expect(route.failureCount == 1)
        #expect(aggregator.stats.proxyRestarts == 1)
    }

    @Test func vanishedSeriesIsForgottenAndReturnsFromZero() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([50, 5, 55, 55, 55, 100]), from: podA, workload: web)
        aggregator.ingest(builder.snapshot([.nan, .nan, .nan, .nan, .nan, .nan]), from: podA, workload: web)
        #expect(aggregator.closeWindow(at: 1_010).routes.isEmpty)
        aggregator.ingest(builder.snapshot([3, 0, 3, 3, 3, 9]), from: podA, workload: web)
        let route = try single(aggregator.closeWindow(at: 1_020))
        #expect(route.successCount == 3)
        #expect(route.failureCount == 0)
        #expect(aggregator.stats.counterResets == 0)
    }

    @Test func incompletePageDoesNotForgetMissingSeries() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([50, 5, 55, 55, 55, 100]), from: podA, workload: web)
        // A truncated page: failure and the histogram are cut off.
        aggregator.ingest(builder.snapshot([60, .nan, .nan, .nan, .nan, .nan], badLines: 1), from: podA, workload: web)
        aggregator.ingest(builder.snapshot([70, 6, 66, 66, 66, 110]), from: podA, workload: web)
        let route = try single(aggregator.closeWindow(at: 1_010))
        // Without the rule the failure counter would count 6 instead of 1.
        #expect(route.successCount == 20)
        #expect(route.failureCount == 1)
        #expect(route.latency.cumulativeCounts == [11, 11, 11])
    }

    @Test func podsOfOneWorkloadMergeBucketByBucket() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([0, 0, 0, 0, 0, 0]), from: podA, workload: web)
        aggregator.ingest(builder.snapshot([10, 0, 10, 10, 10, 0]), from: podB, workload: web)
        aggregator.ingest(builder.snapshot([10, 0, 10, 10, 10, 500]), from: podA, workload: web)
        aggregator.ingest(builder.snapshot([40, 0, 10, 40, 40, 0]), from: podB, workload: web)
        let route = try single(aggregator.closeWindow(at: 1_010))
        #expect(route.successCount == 40)
        #expect(route.latency.cumulativeCounts == [10, 40, 40])
        // rank 20 falls in (0.1, 1]: 0.1 + 0.9·(20 − 10)/30.
        #expect(abs(route.latencyQuantile(0.5) - 0.4) < 1e-12)
    }

    @Test func forgottenProxyStopsCountingAndIdleSeriesIsDropped() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([1, 0, 1, 1, 1, 1]), from: podA, workload: web)
        aggregator.ingest(builder.snapshot([2, 0, 2, 2, 2, 2]), from: podA, workload: web)
        #expect(aggregator.seriesCount == 1)
        aggregator.forgetProxy(podA)
        #expect(aggregator.proxyCount == 0)
        #expect(aggregator.closeWindow(at: 1_010).routes.count == 1)
        #expect(aggregator.closeWindow(at: 1_020).routes.isEmpty)
        #expect(aggregator.seriesCount == 0)
        // Coming back, the proxy is new: baseline first.
        aggregator.ingest(builder.snapshot([9, 0, 9, 9, 9, 9]), from: podA, workload: web)
        #expect(aggregator.closeWindow(at: 1_030).routes.isEmpty)
    }

    @Test func newEpochRebaselines() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([1, 0, 1, 1, 1, 1]), from: podA, workload: web)
        var renumbered = builder
        renumbered.epoch = 8
        aggregator.ingest(renumbered.snapshot([5, 0, 5, 5, 5, 5]), from: podA, workload: web)
        #expect(aggregator.closeWindow(at: 1_010).routes.isEmpty)
        #expect(aggregator.stats.rebaselines == 1)
    }

    @Test func cardinalityCapFoldsExtraRoutesIntoOverflow() throws {
        var aggregator = RouteAggregator(startedAt: 0, limits: .init(maxRoutesPerWorkload: 2))
        let routes = (0..<5).map { index in
            RouteIdentity(
                direction: .outbound, source: .serviceProfileRoute, target: "svc:80", route: "GET /r\(index)", peer: "")
        }
        let series = (0..<5).map { (route: Int32($0), role: SeriesRole.responses(success: true)) }
        let snapshot = ProxySnapshot(
            epoch: 1, routes: routes, seriesRoles: series, values: [1, 2, 3, 4, 5], processStartTime: 10)
        aggregator.ingest(snapshot, from: podA, workload: web)
        let window = aggregator.closeWindow(at: 10)
        #expect(window.routes.count == 3)
        let overflow = try #require(window.routes.first { $0.key.isOverflow })
        #expect(overflow.successCount == 3 + 4 + 5)
        #expect(overflow.foldedRoutes == 3)
        #expect(window.routes.filter { !$0.key.isOverflow }.map(\.successCount).sorted() == [1, 2])
        #expect(aggregator.stats.foldedRoutes == 3)
        #expect(aggregator.seriesCount == 3)
    }

    @Test func windowsDoNotOverlap() throws {
        var aggregator = RouteAggregator(startedAt: 0)
        var start = builder
        start.startTime = 10
        aggregator.ingest(start.snapshot([1, 0, 1, 1, 1, 1]), from: podA, workload: web)
        let first = aggregator.closeWindow(at: 10)
        aggregator.ingest(start.snapshot([3, 0, 3, 3, 3, 3]), from: podA, workload: web)
        let second = aggregator.closeWindow(at: 25)
        #expect(first.start == 0 && first.end == 10)
        #expect(second.start == 10 && second.end == 25)
        #expect(try single(first).successCount == 1)
        #expect(try single(second).successCount == 2)
        #expect(try single(second).duration == 15)
    }
}
