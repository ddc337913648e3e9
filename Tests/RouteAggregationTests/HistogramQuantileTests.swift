import RouteAggregation
import Testing

/// `histogram_quantile` cases with expected values worked out by hand from PromQL's formula:
/// rank = φ·total; the first bucket with count ≥ rank; start + (end − start)·(rank − below)/(in bucket).
@Suite struct HistogramQuantileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var q: Double
        var bounds: [Double]
        var counts: [Double]
        var expected: Double
        var testDescription: String { label }
    }

    static let inf = Double.infinity

    static let cases: [Case] = [
        // Linkerd's modern route histogram, all 284 requests under 50 ms (pr4300 fixture).
        Case(
            label: "all in first bucket p50", q: 0.5, bounds: [0.05, 0.5, 1, 10, inf],
            counts: [284, 284, 284, 284, 284], expected: 0.025),
        Case(
            label: "all in first bucket p99", q: 0.99, bounds: [0.05, 0.5, 1, 10, inf],
            counts: [284, 284, 284, 284, 284], expected: 0.0495),
        // rank 20 falls in (1, 2]: 1 + 1·(20 − 10)/20.
        Case(label: "interpolates p50", q: 0.5, bounds: [1, 2, 4, inf], counts: [10, 30, 40, 40], expected: 1.5),
        // rank 38 falls in (2, 4]: 2 + 2·(38 − 30)/10.
        Case(label: "interpolates p95", q: 0.95, bounds: [1, 2, 4, inf], counts: [10, 30, 40, 40], expected: 3.6),
        // rank 40 reaches (2, 4] exactly at its top.
        Case(label: "p100 at a bound", q: 1, bounds: [1, 2, 4, inf], counts: [10, 30, 40, 40], expected: 4),
        // rank 9 is only reached by +Inf: the highest finite bound.
        Case(label: "rank in +Inf bucket", q: 0.9, bounds: [1, 2, inf], counts: [1, 2, 10], expected: 2),
        Case(label: "single finite bucket", q: 0.5, bounds: [0.1, inf], counts: [4, 4], expected: 0.05),
        Case(label: "no observations", q: 0.5, bounds: [1, 2, inf], counts: [0, 0, 0], expected: .nan),
        Case(label: "+Inf bucket only", q: 0.5, bounds: [inf], counts: [10], expected: .nan),
        Case(label: "no +Inf bucket", q: 0.5, bounds: [1, 2], counts: [1, 2], expected: .nan),
        Case(label: "no buckets", q: 0.5, bounds: [], counts: [], expected: .nan),
        Case(label: "q below 0", q: -0.1, bounds: [1, inf], counts: [1, 1], expected: -.infinity),
        Case(label: "q above 1", q: 1.1, bounds: [1, inf], counts: [1, 1], expected: .infinity),
        Case(label: "q NaN", q: .nan, bounds: [1, inf], counts: [1, 1], expected: .nan),
        // Counts forced monotonic: [5, 3, 6] -> [5, 5, 6]; rank 3 in (0, 1]: 1·3/5.
        Case(label: "non-monotonic counts", q: 0.5, bounds: [1, 2, inf], counts: [5, 3, 6], expected: 0.6),
        // Equal bounds merge: [1: 2+2, +Inf: 4]; rank 2 in (0, 1]: 1·2/4.
        Case(label: "duplicate bounds", q: 0.5, bounds: [1, 1, inf], counts: [2, 2, 4], expected: 0.5),
        // A first bucket with bound <= 0 is returned as is.
        Case(label: "first bound zero", q: 0.2, bounds: [0, 1, inf], counts: [5, 10, 10], expected: 0),
        Case(label: "unsorted input", q: 0.5, bounds: [inf, 2, 1, 4], counts: [40, 30, 10, 40], expected: 1.5),
        // Legacy millisecond layout in seconds, 100 requests: 50 ≤ 10 ms, 90 ≤ 50 ms, 100 ≤ 100 ms.
        // p99 rank 99 falls in (0.05, 0.1]: 0.05 + 0.05·(99 − 90)/10.
        Case(
            label: "legacy layout p99", q: 0.99, bounds: [0.005, 0.01, 0.05, 0.1, inf], counts: [0, 50, 90, 100, 100],
            expected: 0.095),
        // q = 0 in an empty first bucket is 0/0, as in Prometheus.
        Case(label: "q zero empty first bucket", q: 0, bounds: [1, 2, inf], counts: [0, 4, 4], expected: .nan),
    ]

    @Test(arguments: cases)
    func matchesPromQL(_ example: Case) {
        let value = HistogramQuantile.quantile(example.q, upperBounds: example.bounds, cumulativeCounts: example.counts)
        if example.expected.isNaN {
            #expect(value.isNaN)
        } else {
            #expect(abs(value - example.expected) <= 1e-12 * max(1, abs(example.expected)) || value == example.expected)
        }
    }

    @Test func histogramCountComesFromInfBucket() {
        #expect(LatencyHistogram(upperBounds: [1, .infinity], cumulativeCounts: [3, 7]).count == 7)
        #expect(LatencyHistogram(upperBounds: [1, 2], cumulativeCounts: [3, 7]).count == 0)
    }
}
