import FathomModel

/// The rollout state machine: turns successive observations of each workload into events.
///
/// The state is the last observation per workload, so the same objects observed again (a
/// re-list) produce nothing, and a workload seen for the first time (an agent restart) produces
/// nothing either: its rollout status travels in the inventory snapshot instead. Events come only
/// from a change between two observations: a new revision starts (or rolls back) a rollout, which
/// then progresses and completes or fails.
public struct RolloutTracker: Sendable {
    struct Entry: Sendable {
        var observation: RolloutObservation
        /// A rollout of `observation.revision` began while we watched and has not completed.
        var active: Bool
        var startedAt: Double?
        /// What the active rollout replaces.
        var fromRevision: String?
        var fromImages: [String]
        /// The images when the current revision was first seen: a template edit shows new images
        /// a moment before the controller assigns the new revision.
        var revisionImages: [String]
    }

    private var entries: [WorkloadRef: Entry] = [:]

    public init() {}

    public var count: Int { entries.count }

    /// The last observation of a workload.
    public func observation(of workload: WorkloadRef) -> RolloutObservation? { entries[workload]?.observation }

    /// Records a workload's observation and returns the transitions since the last one. `created`
    /// says the workload appeared while the agent was watching (not in a first list), so its first
    /// revision is a rollout too.
    public mutating func observe(
        _ now: RolloutObservation, of workload: WorkloadRef, at time: Double, created: Bool = false
    ) -> [RolloutEvent] {
        guard var entry = entries[workload] ?? (created ? Self.empty(now) : nil) else {
            // First sight: a rollout already under way is reported by the snapshot, not as an event.
            entries[workload] = Entry(
                observation: now, active: false, startedAt: nil, fromRevision: now.previousRevision,
                fromImages: now.previousImages, revisionImages: now.images)
            return []
        }
        let before = entry.observation
        if before == now { return [] }
        entry.observation = now
        var events: [RolloutEvent] = []
        func event(_ kind: RolloutEvent.Kind) -> RolloutEvent {
            RolloutEvent(
                workload: workload, kind: kind, fromRevision: entry.fromRevision, toRevision: now.revision,
                fromImages: entry.fromImages, toImages: now.images, desiredReplicas: now.desired,
                updatedReplicas: now.updated, availableReplicas: now.available, message: now.message, at: time,
                startedAt: entry.startedAt)
        }
        // A Deployment may show its new revision annotation a moment after the new generation: an
        // empty revision is not a new one.
        if now.revision != before.revision && !now.revision.isEmpty {
            entry.active = true
            entry.startedAt = time
            entry.fromRevision = before.revision.isEmpty ? now.previousRevision : before.revision
            entry.fromImages = now.previousImages.isEmpty ? entry.revisionImages : now.previousImages
            entry.revisionImages = now.images
            events.append(event(now.rolledBack ? .rolledBack : .started))
            if now.phase == .failed { events.append(event(.failed)) }
        } else if entry.active {
            if !before.rolledBack && now.rolledBack {
                // An Argo Rollout aborted mid-canary: back to stable under the same revision.
                events.append(event(.rolledBack))
            }
            if now.phase == .failed && before.phase != .failed {
                events.append(event(.failed))
            } else if now.phase != .complete && (now.updated != before.updated || now.available != before.available) {
                events.append(event(.progressed))
            }
        }
        if entry.active && now.phase == .complete {
            events.append(event(.completed))
            entry.active = false
        }
        entries[workload] = entry
        return events
    }

    /// The state before a workload that was just created.
    private static func empty(_ now: RolloutObservation) -> Entry {
        let nothing = RolloutObservation(
            revision: "", images: [], phase: .progressing, desired: now.desired, updated: 0, available: 0)
        return Entry(
            observation: nothing, active: false, startedAt: nil, fromRevision: nil, fromImages: [], revisionImages: [])
    }

    public mutating func forget(_ workload: WorkloadRef) {
        entries[workload] = nil
    }
}
