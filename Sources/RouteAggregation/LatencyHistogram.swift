/// A merged latency histogram of one window: cumulative counts per upper bound, as Prometheus's
/// `sum by (le) (increase(..._bucket[w]))` would give them.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in seconds, ascending; the last is `+infinity` when the data had an `+Inf` bucket.
    public var upperBounds: [Double]
    /// Cumulative counts: observations at or below each bound.
    public var cumulativeCounts: [Double]
    /// Sum of observed latencies in seconds.
    public var sum: Double

    public init(upperBounds: [Double], cumulativeCounts: [Double], sum: Double = 0) {
        self.upperBounds = upperBounds
        self.cumulativeCounts = cumulativeCounts
        self.sum = sum
    }

    /// Observations counted, from the `+Inf` bucket.
    public var count: Double {
        guard let last = upperBounds.last, last == .infinity else { return 0 }
        return cumulativeCounts.last ?? 0
    }

    /// The φ-quantile computed exactly as PromQL's `histogram_quantile(φ, ...)` over these buckets.
    public func quantile(_ q: Double) -> Double {
        HistogramQuantile.quantile(q, upperBounds: upperBounds, cumulativeCounts: cumulativeCounts)
    }
}

/// PromQL's `histogram_quantile` on classic buckets, with the same edge cases:
///
/// - φ < 0 gives -Inf, φ > 1 gives +Inf, NaN φ gives NaN;
/// - fewer than two buckets, no `+Inf` bucket, or no observations give NaN;
/// - buckets with equal bounds are merged, and counts are made monotonic (a lower bucket never
///   counts more than a higher one) as Prometheus does for buckets scraped at different times;
/// - a rank in the `+Inf` bucket gives the highest finite bound;
/// - a rank in the first bucket interpolates from 0, unless that bucket's bound is <= 0, which is
///   then returned as is;
/// - otherwise linear interpolation inside the bucket where the rank falls.
public enum HistogramQuantile {
    public static func quantile(_ q: Double, upperBounds: [Double], cumulativeCounts: [Double]) -> Double {
        if q.isNaN { return .nan }
        if q < 0 { return -.infinity }
        if q > 1 { return .infinity }
        precondition(upperBounds.count == cumulativeCounts.count, "one count per bound")

        var buckets = zip(upperBounds, cumulativeCounts).map { (bound: $0, count: $1) }
        buckets.sort { $0.bound < $1.bound }
        guard let last = buckets.last, last.bound == .infinity else { return .nan }
        // Merge buckets with the same bound.
        var merged: [(bound: Double, count: Double)] = []
        merged.reserveCapacity(buckets.count)
        for bucket in buckets {
            if let previous = merged.last, previous.bound == bucket.bound {
                merged[merged.count - 1].count += bucket.count
            } else {
                merged.append(bucket)
            }
        }
        guard merged.count >= 2 else { return .nan }
        // Make the counts monotonic.
        var maximum = -Double.infinity
        for index in merged.indices {
            if merged[index].count > maximum {
                maximum = merged[index].count
            } else {
                merged[index].count = maximum
            }
        }
        let observations = merged[merged.count - 1].count
        guard observations > 0 else { return .nan }
        var rank = q * observations
        // The first bucket whose cumulative count reaches the rank.
        var index = 0
        while index < merged.count - 1 && merged[index].count < rank { index += 1 }

        if index == merged.count - 1 { return merged[merged.count - 2].bound }
        if index == 0 && merged[0].bound <= 0 { return merged[0].bound }

        var bucketStart = 0.0
        let bucketEnd = merged[index].bound
        var count = merged[index].count
        if index > 0 {
            bucketStart = merged[index - 1].bound
            count -= merged[index - 1].count
            rank -= merged[index - 1].count
        }
        return bucketStart + (bucketEnd - bucketStart) * (rank / count)
    }
}
