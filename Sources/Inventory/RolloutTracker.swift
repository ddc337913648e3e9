import FathomModel
import KubernetesModels

/// Where a workload's rollout stands, as the inventory reports it: enough for the SaaS (and an
/// agent started again) to know a rollout under way without having seen it start.
public struct RolloutState: Sendable, Equatable {
    public var phase: RolloutPhase
    public var revision: String
    public var fromRevision: String?
    public var images: [String]
    public var fromImages: [String]
    /// When the current revision's rollout started (seen, or its revision object's creation).
    public var startedAt: Double?
    /// When the last transition was seen.
    public var lastTransitionAt: Double?
    public var message: String?
    /// Whether a rollout of `revision` is under way (started and not yet complete or failed).
    public var active: Bool
}

/// The rollout state machine: turns successive observations of each workload into events.
///
/// The state is the last observation per workload, so the same objects observed again (a
/// re-list) produce nothing. A workload seen for the first time (an agent started, a leader
/// elected) produces nothing either, but a rollout it shows under way is taken up where it is:
/// its progress and completion are reported, its start is not invented. Events come only from a
/// change between two observations: a new revision starts (or rolls back) a rollout, which then
/// progresses (each time a replica count moved) and completes or fails. A StatefulSet whose
/// partition is lowered rolls more pods under the same revision: progress, then completion again.
///
/// Each observation says what it was made from (its `basis`: the resources of revisions it
/// could read). One made from something else than the last (the ControllerRevisions listed
/// after their StatefulSets, a resource forbidden and then allowed) names revisions another way,
/// so it is a first sight again, never a transition.
public struct RolloutTracker: Sendable {
    struct Entry: Sendable {
        var observation: RolloutObservation
        /// A rollout of `observation.revision` began and has not completed.
        var active: Bool
        var startedAt: Double?
        var lastTransitionAt: Double?
        /// What the active rollout replaces.
        var fromRevision: String?
        var fromImages: [String]
        /// The images when the current revision was first seen: a template edit shows new images
        /// a moment before the controller assigns the new revision.
        var revisionImages: [String]
        /// The resources the observations were made from.
        var basis: Set<String> = []
        /// The counts (updated, ready, available) last reported for the active rollout: progress
        /// is reported only when one of them moved.
        var reported: [Int]?
    }

    private var entries: [WorkloadRef: Entry] = [:]

    public init() {}

    public var count: Int { entries.count }

    /// The last observation of a workload.
    public func observation(of workload: WorkloadRef) -> RolloutObservation? { entries[workload]?.observation }

    /// The rollout state of a workload, for the inventory.
    public func state(of workload: WorkloadRef) -> RolloutState? {
        guard let entry = entries[workload] else { return nil }
        let now = entry.observation
        return RolloutState(
            phase: now.phase, revision: now.revision, fromRevision: entry.fromRevision, images: now.images,
            fromImages: entry.fromImages, startedAt: entry.startedAt, lastTransitionAt: entry.lastTransitionAt,
            message: now.message, active: entry.active)
    }

    /// Records a workload's observation and returns the transitions since the last one. `created`
    /// says the workload appeared while the agent was watching (not in a first list), so its first
    /// revision is a rollout too.
    public mutating func observe(
        _ now: RolloutObservation, of workload: WorkloadRef, at time: Double, created: Bool = false,
        basis: Set<String> = []
    ) -> [RolloutEvent] {
        let known = entries[workload].flatMap { $0.basis == basis ? $0 : nil }
        guard var entry = known ?? (created ? Self.empty(now, basis: basis) : nil) else {
            // First sight. A rollout the controller reports under way is taken up (its progress
            // and end will be reported, its start was not seen), with where it came from and when
            // it began as the objects show them; anything else is at rest.
            let underWay =
                now.observed && (now.phase == .progressing || now.phase == .paused) && now.replacing
                && !now.revision.isEmpty
            entries[workload] = Entry(
                observation: now, active: underWay, startedAt: underWay ? now.revisionCreatedAt : nil,
                lastTransitionAt: nil, fromRevision: now.previousRevision, fromImages: now.previousImages,
                revisionImages: now.images, basis: basis,
                reported: underWay ? [now.updated, now.ready, now.available] : nil)
            return []
        }
        let before = entry.observation
        if before == now { return [] }
        entry.observation = now
        var events: [RolloutEvent] = []
        func event(_ kind: RolloutEvent.Kind) -> RolloutEvent {
            // Before the controller has observed the new spec its counts describe the old one.
            RolloutEvent(
                workload: workload, kind: kind, fromRevision: entry.fromRevision, toRevision: now.revision,
                fromImages: entry.fromImages, toImages: now.images, desiredReplicas: now.desired,
                updatedReplicas: now.observed ? now.updated : 0, readyReplicas: now.ready,
                availableReplicas: now.available, message: now.message, at: time, startedAt: entry.startedAt,
                objectVersion: now.resourceVersion)
        }
        let counts = [now.observed ? now.updated : 0, now.ready, now.available]
        // A Deployment may show its new revision annotation a moment after the new generation: an
        // empty revision is not a new one.
        if now.revision != before.revision && !now.revision.isEmpty {
            entry.active = true
            entry.startedAt = time
            entry.fromRevision = before.revision.isEmpty ? now.previousRevision : before.revision
            entry.fromImages = now.previousImages.isEmpty ? entry.revisionImages : now.previousImages
            entry.revisionImages = now.images
            // An older revision made current again (`rollout undo`): its object is older than
            // the one it replaces, or (Deployments) its ReplicaSet carries a revision history.
            let older =
                now.revisionCreated.map { created in before.revisionCreated.map { created < $0 } ?? false } ?? false
            events.append(event(now.rolledBack || older ? .rolledBack : .started))
            entry.reported = counts
            if now.phase == .failed { events.append(event(.failed)) }
        } else if !entry.active, (now.partition ?? 0) < (before.partition ?? 0) {
            // A StatefulSet's partition lowered: the pods above it roll to the same revision. Its
            // progress is reported once the controller has observed the new spec.
            entry.active = true
            entry.reported = nil
            if now.observed {
                events.append(event(.progressed))
                entry.reported = counts
            }
        } else if entry.active {
            if !before.rolledBack && now.rolledBack {
                // An Argo Rollout aborted mid-canary: back to stable under the same revision.
                events.append(event(.rolledBack))
            }
            if now.phase == .failed && before.phase != .failed {
                events.append(event(.failed))
            } else if now.phase != .complete && now.observed && counts != entry.reported {
                events.append(event(.progressed))
                entry.reported = counts
            }
        }
        if entry.active && now.phase == .complete {
            events.append(event(.completed))
            entry.active = false
        }
        if !events.isEmpty { entry.lastTransitionAt = time }
        entries[workload] = entry
        return events
    }

    /// The state before a workload that was just created.
    private static func empty(_ now: RolloutObservation, basis: Set<String>) -> Entry {
        let nothing = RolloutObservation(
            revision: "", images: [], phase: .progressing, desired: now.desired, updated: 0, available: 0)
        return Entry(
            observation: nothing, active: false, startedAt: nil, lastTransitionAt: nil, fromRevision: nil,
            fromImages: [], revisionImages: [], basis: basis)
    }

    public mutating func forget(_ workload: WorkloadRef) {
        entries[workload] = nil
    }
}
