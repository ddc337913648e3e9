/// The metric types a `# TYPE` line can declare, in both text formats.
public enum MetricType: String, Sendable, CaseIterable {
    case counter, gauge, histogram, summary, untyped
    // OpenMetrics additions.
    case unknown, info, stateset, gaugehistogram
}
