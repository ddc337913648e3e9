import FathomModel

/// Responses of one outcome in a window: why they counted as success or failure.
public struct OutcomeCount: Sendable, Equatable {
    public var outcome: ResponseOutcome
    /// Whether Linkerd counted them as successes (the outcome alone does not always say: a legacy
    /// series carries its own classification).
    public var success: Bool
    public var count: Double

    public init(outcome: ResponseOutcome, success: Bool, count: Double) {
        self.outcome = outcome
        self.success = success
        self.count = count
    }
}
