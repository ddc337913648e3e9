/// A condition the log reports when it starts, changes or ends, never on each repetition: a
/// scrape target's failure reason, a watch's state, leadership. The caller logs when `record`
/// returns a change; the counters on `/metrics` carry every repetition.
public struct LoggedState<Value: Equatable & Sendable>: Sendable {
    /// The value last recorded.
    public private(set) var value: Value

    /// A change from one value to another.
    public struct Change: Sendable {
        public let from: Value
        public let to: Value
    }

    public init(_ initial: Value) {
        value = initial
    }

    /// Records `next`; returns the change when it differs from the value held, nil otherwise.
    public mutating func record(_ next: Value) -> Change? {
        guard next != value else { return nil }
        defer { value = next }
        return Change(from: value, to: next)
    }
}

/// A run of repeated failures the log reports at its first occurrence, then every `every`-th,
/// and once when it ends: a collector that rejects every batch writes one line per `every`
/// batches, not one per window.
public struct LoggedRun: Sendable {
    /// Occurrences in the current run; 0 when none is under way.
    public private(set) var length = 0
    private let every: Int

    public init(every: Int) {
        self.every = max(1, every)
    }

    /// Counts one more occurrence; true when this one is to be logged.
    public mutating func occurred() -> Bool {
        length += 1
        return length == 1 || length % every == 0
    }

    /// Ends the run; returns its length (0 when none was under way, so there is nothing to log).
    public mutating func end() -> Int {
        defer { length = 0 }
        return length
    }
}
