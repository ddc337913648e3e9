import FathomModel
import RouteAggregation
import Testing

/// A route keeps at most 254 distinct bucket bounds (its bucket numbers are one byte per series,
/// with one value kept for "no bucket").
@Suite struct BucketLimitTests {
    /// One route whose histogram has the given bounds, every bucket at `value`, plus a success counter.
    func snapshot(bounds: [Double], value: Double, successes: Double) -> ProxySnapshot {
        var series: [(route: Int32, role: SeriesRole)] = [(0, .responses(success: true))]
        series += bounds.map { (0, .latencyBucket(upperBoundSeconds: $0)) }
        return ProxySnapshot(
            epoch: 1, routes: [SnapshotBuilder.route], seriesRoles: series,
            values: [successes] + bounds.map { _ in value }, processStartTime: 100)
    }

    @Test func boundsBeyondTheLimitAreLeftOutAndTheRestStillCount() throws {
        let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
        // Two pods of one workload with 200 bounds each, none shared: 400 for one route.
        let first = (1...200).map { Double($0) / 1_000 }
        let second = (201...400).map { Double($0) / 1_000 }
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(snapshot(bounds: first, value: 5, successes: 5), from: ProxyID("a"), workload: web, at: 1001)
        aggregator.ingest(snapshot(bounds: second, value: 5, successes: 5), from: ProxyID("b"), workload: web, at: 1002)
        _ = aggregator.closeWindow(at: 1_010)
        for _ in 0..<2 {
            aggregator.ingest(
                snapshot(bounds: first, value: 7, successes: 9), from: ProxyID("a"), workload: web, at: 1011)
            aggregator.ingest(
                snapshot(bounds: second, value: 8, successes: 11), from: ProxyID("b"), workload: web, at: 1012)
            let window = aggregator.closeWindow(at: 1_020)
            let route = try #require(window.routes.first)
            #expect(route.successCount == 4 + 6)
            #expect(route.latency.upperBounds.count == 254)
            // Pod a's 200 bounds were seen first and all kept, with its increase of 2 each; the
            // first 54 of pod b's follow, with its increase of 3.
            #expect(Array(route.latency.upperBounds.prefix(200)) == first)
            #expect(Array(route.latency.upperBounds.suffix(54)) == Array(second.prefix(54)))
            #expect(route.latency.cumulativeCounts == Array(repeating: 2, count: 200) + Array(repeating: 3, count: 54))
            // The next window sees no change: every value stays where it is.
            aggregator.ingest(
                snapshot(bounds: first, value: 7, successes: 9), from: ProxyID("a"), workload: web, at: 1021)
            aggregator.ingest(
                snapshot(bounds: second, value: 8, successes: 11), from: ProxyID("b"), workload: web, at: 1022)
            #expect(aggregator.closeWindow(at: 1_030).routes.isEmpty)
            // Reset to the starting values for the second round (counted as counter resets).
            aggregator.ingest(
                snapshot(bounds: first, value: 5, successes: 5), from: ProxyID("a"), workload: web, at: 1031)
            aggregator.ingest(
                snapshot(bounds: second, value: 5, successes: 5), from: ProxyID("b"), workload: web, at: 1032)
            _ = aggregator.closeWindow(at: 1_040)
        }
    }
}
