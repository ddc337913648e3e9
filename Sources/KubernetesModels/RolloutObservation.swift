import Foundation

/// Where a workload's rollout stands, derived from its objects alone (never from having seen a
/// transition), so a re-list or an agent restart derives the same state again.
public enum RolloutPhase: String, Sendable, Equatable, CaseIterable {
    case progressing
    case paused
    case complete
    case failed
}

/// A workload's rollout state as its objects show it now, by the rules `kubectl rollout status`
/// applies to each kind, and gated as the controllers require: a status speaks for the spec only
/// once its `observedGeneration` has caught up with the object's `generation` (the first events
/// after a spec change still carry the previous status, conditions included).
public struct RolloutObservation: Sendable, Equatable {
    /// The current revision: a Deployment's or Rollout's revision annotation, a StatefulSet's
    /// or DaemonSet's ControllerRevision number (as `kubectl rollout history` shows them).
    public var revision: String
    public var images: [String]
    public var phase: RolloutPhase
    public var desired: Int
    public var updated: Int
    public var ready: Int
    public var available: Int
    /// Whether the status describes the current spec (`observedGeneration` ≥ `generation`).
    public var observed: Bool
    /// The current revision was current before (a ReplicaSet with a revision history), or an
    /// Argo Rollout was aborted back to stable.
    public var rolledBack: Bool
    public var message: String?
    /// The revision this one replaced, and its images, when the objects still show it.
    public var previousRevision: String?
    public var previousImages: [String]
    /// When the current revision's object (ReplicaSet, ControllerRevision) was created, RFC 3339:
    /// a revision older than the one it replaces was made current again (a rollback).
    public var revisionCreated: String?
    /// The workload object's `resourceVersion`: the version whose status this observation reads
    /// (the same for every agent that saw it, so it names a transition across a handover).
    public var resourceVersion: String?
    /// A StatefulSet's partition: lowering it rolls more pods without a new revision.
    public var partition: Int?
    /// Whether pods of an older revision are still being replaced, as the controller says it:
    /// what tells a rollout under way from a scale-up or a replaced pod, which also leave
    /// replicas unavailable for a while (an agent starting then must not take them for one).
    public var replacing: Bool

    public init(
        revision: String, images: [String], phase: RolloutPhase, desired: Int, updated: Int, ready: Int? = nil,
        available: Int, observed: Bool = true, rolledBack: Bool = false, message: String? = nil,
        previousRevision: String? = nil, previousImages: [String] = [], revisionCreated: String? = nil,
        resourceVersion: String? = nil, partition: Int? = nil, replacing: Bool? = nil
    ) {
        self.revision = revision
        self.images = images
        self.phase = phase
        self.desired = desired
        self.updated = updated
        self.ready = ready ?? available
        self.available = available
        self.observed = observed
        self.rolledBack = rolledBack
        self.message = message
        self.previousRevision = previousRevision
        self.previousImages = previousImages
        self.revisionCreated = revisionCreated
        self.resourceVersion = resourceVersion
        self.partition = partition
        self.replacing = replacing ?? (phase == .progressing || phase == .paused)
    }

    /// The current revision's creation in seconds since 1970, when known.
    public var revisionCreatedAt: Double? { revisionCreated.flatMap(Self.seconds) }

    static func seconds(_ timestamp: String) -> Double? {
        (try? Date(timestamp, strategy: .iso8601))?.timeIntervalSince1970
    }

    static func isObserved(_ metadata: ObjectMeta, _ observedGeneration: Int64?) -> Bool {
        (observedGeneration ?? 0) >= (metadata.generation ?? 0)
    }

    /// The ReplicaSet of the highest revision below `revision`.
    static func previous(_ sets: [ReplicaSet], before revision: String) -> (number: Int, set: ReplicaSet)? {
        sets.compactMap { set in set.revision.flatMap(Int.init).map { (number: $0, set: set) } }
            .filter { $0.number < Int(revision) ?? Int.max }
            .max { $0.number < $1.number }
    }
}
