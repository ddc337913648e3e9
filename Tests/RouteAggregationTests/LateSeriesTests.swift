import FathomModel
import RouteAggregation
import Testing

/// A series whose first value the agent sees after the proxy's first page is counted in full only
/// when it just started: not when its first sample was unusable or the series limit refused it.
@Suite struct LateSeriesTests {
    let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")

    @Test func aSeriesWhoseFirstSampleWasNaNIsBaselinedWhenItHasAValue() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        let builder = SnapshotBuilder()
        // The failure counter reads NaN on the first page: numbered, without a value.
        aggregator.ingest(
            builder.snapshot([500, .nan, 400, 500, 500, 9_000]), from: ProxyID("a"), workload: web, at: 1_001)
        aggregator.ingest(
            builder.snapshot([510, 132, 410, 510, 510, 9_100]), from: ProxyID("a"), workload: web, at: 1_002)
        aggregator.ingest(
            builder.snapshot([520, 140, 420, 520, 520, 9_200]), from: ProxyID("a"), workload: web, at: 1_003)
        let route = try #require(aggregator.closeWindow(at: 1_010).routes.first)
        // 132 failures happened before the agent could read the counter: only the 8 since count.
        #expect(route.failureCount == 8)
        #expect(route.successCount == 20)
    }
}
