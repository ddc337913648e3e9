import Foundation
import KubernetesModels

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

    /// A Deployment, with the ReplicaSets it owns (for rollbacks and the previous revision).
    public static func of(_ deployment: Deployment, ownedReplicaSets: [ReplicaSet]) -> RolloutObservation {
        let desired = deployment.spec.replicas ?? 1
        let status = deployment.status
        // Zero counts are omitted by the API server: missing means 0.
        let updated = status.updatedReplicas ?? 0
        let available = status.availableReplicas ?? 0
        let revision = deployment.revision ?? ""
        let observed = isObserved(deployment.metadata, status.observedGeneration)
        var phase = RolloutPhase.complete
        var message: String?
        if observed, let progressing = deployment.condition("Progressing"),
            progressing.reason == "ProgressDeadlineExceeded"
        {
            phase = .failed
            message = progressing.message
        } else if deployment.spec.paused == true {
            phase = .paused
        } else if !observed || updated < desired || (status.replicas ?? 0) > updated || available < updated {
            phase = .progressing
        }
        let current = ownedReplicaSets.first { $0.revision == revision }
        let previous = Self.previous(ownedReplicaSets, before: revision)
        // An older ReplicaSet still asked for pods: the new one is replacing it. (A scale-up, a
        // replaced pod or a template edited while paused leave none.) Without the ReplicaSets,
        // the controller's Progressing condition says whether a new one is rolling out.
        let replacing: Bool
        if !ownedReplicaSets.isEmpty {
            replacing = ownedReplicaSets.contains { $0.revision != revision && ($0.spec.replicas ?? 0) > 0 }
        } else {
            let rolling: Set<String> = ["ReplicaSetUpdated", "NewReplicaSetCreated", "FoundNewReplicaSet"]
            replacing = deployment.condition("Progressing")?.reason.map(rolling.contains) ?? false
        }
        return RolloutObservation(
            revision: revision, images: deployment.spec.template.images, phase: phase, desired: desired,
            updated: updated, ready: status.readyReplicas ?? 0, available: available, observed: observed,
            rolledBack: !(current?.revisionHistory.isEmpty ?? true), message: message,
            previousRevision: previous.map { String($0.number) },
            previousImages: previous?.set.spec.template?.images ?? [],
            revisionCreated: current?.metadata.creationTimestamp, resourceVersion: deployment.metadata.resourceVersion,
            replacing: replacing)
    }

    /// The ReplicaSet of the highest revision below `revision`.
    static func previous(_ sets: [ReplicaSet], before revision: String) -> (number: Int, set: ReplicaSet)? {
        sets.compactMap { set in set.revision.flatMap(Int.init).map { (number: $0, set: set) } }
            .filter { $0.number < Int(revision) ?? Int.max }
            .max { $0.number < $1.number }
    }

    /// A StatefulSet, with the ControllerRevisions it owns: complete, as `kubectl rollout status`
    /// says, once the spec is observed, every replica is ready and, with a partition, the
    /// ordinals above it are updated ("partitioned roll out complete"), or without one the current
    /// revision is the update revision.
    public static func of(_ statefulSet: StatefulSet, revisions: [ControllerRevision]) -> RolloutObservation {
        let desired = statefulSet.spec.replicas ?? 1
        let status = statefulSet.status
        let updated = status.updatedReplicas ?? 0
        let ready = status.readyReplicas ?? 0
        let observed =
            (status.observedGeneration ?? 0) > 0 && isObserved(statefulSet.metadata, status.observedGeneration)
        let updateRevision = status.updateRevision ?? ""
        let complete: Bool
        var message: String?
        if let partition = statefulSet.spec.partition, partition > 0 {
            complete = observed && ready >= desired && updated >= desired - partition
            if complete { message = "partitioned roll out complete: \(updated) of \(desired) pods updated" }
        } else {
            complete = observed && ready >= desired && updated >= desired && status.currentRevision == updateRevision
        }
        func number(_ name: String?) -> String? {
            guard let name else { return nil }
            return revisions.first { $0.metadata.name == name }.map { String($0.revision) } ?? name
        }
        let current = revisions.first { $0.metadata.name == updateRevision }
        return RolloutObservation(
            revision: number(updateRevision) ?? "", images: statefulSet.spec.template.images,
            phase: complete ? .complete : .progressing, desired: desired, updated: updated, ready: ready,
            available: status.availableReplicas ?? ready, observed: observed, message: message,
            previousRevision: status.currentRevision == updateRevision ? nil : number(status.currentRevision),
            revisionCreated: current?.metadata.creationTimestamp, resourceVersion: statefulSet.metadata.resourceVersion,
            partition: statefulSet.spec.partition,
            // Pods of the current revision remain to be replaced (a scale-up leaves none).
            replacing: status.currentRevision != updateRevision)
    }

    /// A DaemonSet, with the ControllerRevisions it owns: its current revision is the
    /// highest-numbered one (a DaemonSet's status names none), so an edit that leaves the pod
    /// template alone changes nothing, and `rollout undo` (an old revision renumbered) is seen.
    public static func of(_ daemonSet: DaemonSet, revisions: [ControllerRevision]) -> RolloutObservation {
        let status = daemonSet.status
        let desired = status.desiredNumberScheduled ?? 0
        let updated = status.updatedNumberScheduled ?? 0
        let available = status.numberAvailable ?? 0
        let observed = isObserved(daemonSet.metadata, status.observedGeneration)
        let complete = observed && updated >= desired && available >= desired
        let ordered = revisions.sorted { $0.revision > $1.revision }
        let current = ordered.first
        let previous = ordered.dropFirst().first
        return RolloutObservation(
            // Without its ControllerRevisions (not yet listed, or forbidden) the generation stands in.
            revision: current.map { String($0.revision) } ?? String(daemonSet.metadata.generation ?? 0),
            images: daemonSet.spec.template.images, phase: complete ? .complete : .progressing, desired: desired,
            updated: updated, ready: status.numberReady ?? 0, available: available, observed: observed,
            previousRevision: previous.map { String($0.revision) },
            revisionCreated: current?.metadata.creationTimestamp, resourceVersion: daemonSet.metadata.resourceVersion,
            // Nodes still run a pod of an older revision (a new node's pod is updated at once).
            replacing: updated < desired)
    }

    /// An Argo Rollout, by the phase its controller reports, with the ReplicaSets it owns (an
    /// undo makes an older ReplicaSet current again, as for Deployments).
    public static func of(_ rollout: ArgoRollout, ownedReplicaSets: [ReplicaSet] = []) -> RolloutObservation {
        let status = rollout.status
        let phase: RolloutPhase =
            switch status.phase {
            case "Healthy": .complete
            case "Degraded": .failed
            case "Paused": .paused
            default: .progressing
            }
        let revision = rollout.revision ?? ""
        let current = ownedReplicaSets.first { $0.revision == revision }
        let previous = Self.previous(ownedReplicaSets, before: revision)
        return RolloutObservation(
            revision: revision, images: rollout.spec.template?.images ?? [], phase: phase,
            desired: rollout.spec.replicas ?? 1, updated: status.updatedReplicas ?? 0,
            ready: status.readyReplicas ?? 0, available: status.availableReplicas ?? 0,
            rolledBack: status.abort == true, message: phase == .failed || status.abort == true ? status.message : nil,
            previousRevision: previous.map { String($0.number) },
            previousImages: previous?.set.spec.template?.images ?? [],
            revisionCreated: current?.metadata.creationTimestamp, resourceVersion: rollout.metadata.resourceVersion)
    }
}
