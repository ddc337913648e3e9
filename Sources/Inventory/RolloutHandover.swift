/// Carries rollout events across a change of leader in daemonset mode, so that none is lost
/// and none is reported twice.
///
/// Every agent watches the same workloads and derives the same transitions, but only the
/// leader reports them. A follower keeps what it saw for `retention` seconds instead of
/// dropping it: the leader may die before its next window, and the follower that takes over
/// must report what the dead leader never did. The leader, in turn, publishes in the Lease the
/// identities of what it reported within `retention` (and what it inherited), so a new leader
/// reports what it kept less what is published there. `retention` must outlast a handover:
/// the lease running out, the next election and a window.
public struct RolloutHandover: Sendable {
    /// The Lease annotation that holds the identities, space-separated, oldest first.
    public static let annotation = "fathom.dev/reported-rollout-events"

    public let retention: Double
    /// At most this many identities are published: about 17 bytes each, written with every
    /// renewal. Past it the oldest go first; only they could then be reported twice.
    public let maxPublished: Int
    /// At most this many events are kept while following; past it the oldest go first.
    public let maxKept: Int

    /// Events seen while following, with when they were seen, oldest first.
    private var kept: [(event: RolloutEvent, seenAt: Double)] = []
    /// Identities reported by earlier leaders, as adopted at the start of this agent's term, with
    /// how many times each was reported: that many events with it are not reported again.
    private var inherited: [String: Int] = [:]
    private var adoptedAt = 0.0
    /// What this agent publishes: the inherited identities and its own reports, oldest first.
    private var published: [(identity: String, at: Double)] = []

    public init(retention: Double, maxPublished: Int = 1_000, maxKept: Int = 10_000) {
        self.retention = retention
        self.maxPublished = maxPublished
        self.maxKept = maxKept
    }

    /// This agent follows: what it saw is kept, not reported.
    public mutating func follow(_ events: [RolloutEvent], at now: Double) {
        kept += events.map { ($0, now) }
        if kept.count > maxKept { kept.removeFirst(kept.count - maxKept) }
        prune(at: now)
    }

    /// This agent's term began: `annotation` is what the Lease held when it took it over.
    public mutating func adopt(_ annotation: String?, at now: Double) {
        inherited = [:]
        published = []
        adoptedAt = now
        for identity in (annotation ?? "").split(separator: " ") {
            inherited[String(identity), default: 0] += 1
            published.append((String(identity), now))
        }
        trimPublished()
    }

    /// This agent leads: the events to report now, those kept while following first, less any
    /// an earlier leader reported. Repeats within this agent's own reports are reported: they
    /// are transitions it saw twice.
    public mutating func lead(_ events: [RolloutEvent], at now: Double) -> [RolloutEvent] {
        prune(at: now)
        let candidates = kept.map(\.event) + events
        kept = []
        var reported: [RolloutEvent] = []
        for event in candidates {
            if let count = inherited[event.identity] {
                inherited[event.identity] = count > 1 ? count - 1 : nil
            } else {
                reported.append(event)
            }
        }
        published += reported.map { ($0.identity, now) }
        trimPublished()
        return reported
    }

    /// The annotation's value for the Lease this agent holds.
    public func annotationValue() -> String {
        published.map(\.identity).joined(separator: " ")
    }

    /// Events kept while following, for the agent's own metrics.
    public var keptCount: Int { kept.count }

    private mutating func prune(at now: Double) {
        let oldest = now - retention
        if let first = kept.firstIndex(where: { $0.seenAt >= oldest }) {
            kept.removeFirst(first)
        } else {
            kept = []
        }
        if adoptedAt < oldest { inherited = [:] }
        if let first = published.firstIndex(where: { $0.at >= oldest }) {
            published.removeFirst(first)
        } else {
            published = []
        }
    }

    private mutating func trimPublished() {
        if published.count > maxPublished { published.removeFirst(published.count - maxPublished) }
    }
}
