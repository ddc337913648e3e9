import FathomModel
import Testing

@testable import RouteAggregation

/// Previous values are kept in 4 bytes when they are whole numbers below 2^32, exactly otherwise.
@Suite struct PreviousValuesTests {
    @Test func everyValueComesBackExactly() {
        let values: [Double] = [
            0, 1, 4_294_967_293, 4_294_967_294, 4_294_967_295, 5_000_000_000, 1.25, -3, .nan, 0.1, 1e300,
        ]
        var previous = PreviousValues()
        for value in values { previous.append(value) }
        #expect(previous.count == values.count)
        for (index, value) in values.enumerated() {
            if value.isNaN {
                #expect(previous[index].isNaN)
            } else {
                #expect(previous[index] == value, "\(value)")
            }
        }
        // Overwriting a wide value with a compact one, and the reverse, as renumbering does.
        previous.set(7, at: 5)
        previous.set(2.5, at: 1)
        previous.set(.nan, at: 0)
        #expect(previous[5] == 7 && previous[1] == 2.5 && previous[0].isNaN)
        var unknown = PreviousValues(unknownCount: 3)
        unknown.set(9, at: 2)
        #expect(unknown[0].isNaN && unknown[1].isNaN && unknown[2] == 9)
    }

    @Test func countersPastTwoToTheThirtyTwoAndFractionalSumsAggregateExactly() throws {
        let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
        let builder = SnapshotBuilder()
        var aggregator = RouteAggregator(startedAt: 1_000)
        // Values: success, failure, ≤0.1 s, ≤1 s, +Inf, sum in ms (fractional).
        aggregator.ingest(
            builder.snapshot([5_000_000_000, 4_294_967_290, 1, 2, 3, 10.25]), from: ProxyID("a"), workload: web,
            at: 1_005)
        _ = aggregator.closeWindow(at: 1_010)
        aggregator.ingest(
            builder.snapshot([5_000_000_007, 4_294_967_300, 1, 2, 3, 12.75]), from: ProxyID("a"), workload: web,
            at: 1_015)
        let route = try #require(aggregator.closeWindow(at: 1_020).routes.first)
        #expect(route.successCount == 7)
        #expect(route.failureCount == 10)
        #expect(route.latency.sum == 2.5 / 1_000)
        #expect(aggregator.stats.counterResets == 0)
    }
}
