import KubernetesModels

/// A workload's rollout state as its objects show it now, by the same rules as
/// `kubectl rollout status` for each kind.
public struct RolloutObservation: Sendable, Equatable {
    public var revision: String
    public var images: [String]
    public var phase: RolloutPhase
    public var desired: Int
    public var updated: Int
    public var available: Int
    /// The current revision was current before (its ReplicaSet carries a revision history) or the
    /// rollout was aborted back to stable.
    public var rolledBack: Bool
    public var message: String?
    /// The revision this one replaced, and its images, when the objects still show it.
    public var previousRevision: String?
    public var previousImages: [String]

    public init(
        revision: String, images: [String], phase: RolloutPhase, desired: Int, updated: Int, available: Int,
        rolledBack: Bool = false, message: String? = nil, previousRevision: String? = nil, previousImages: [String] = []
    ) {
        self.revision = revision
        self.images = images
        self.phase = phase
        self.desired = desired
        self.updated = updated
        self.available = available
        self.rolledBack = rolledBack
        self.message = message
        self.previousRevision = previousRevision
        self.previousImages = previousImages
    }

    /// A Deployment, with the ReplicaSets it owns (for rollbacks and the previous revision).
    public static func of(_ deployment: Deployment, ownedReplicaSets: [ReplicaSet]) -> RolloutObservation {
        let desired = deployment.spec.replicas ?? 1
        let status = deployment.status
        let updated = status.updatedReplicas ?? 0
        let available = status.availableReplicas ?? 0
        let revision = deployment.revision ?? ""
        var phase = RolloutPhase.complete
        var message: String?
        if let progressing = deployment.condition("Progressing"), progressing.reason == "ProgressDeadlineExceeded" {
            phase = .failed
            message = progressing.message
        } else if deployment.spec.paused == true {
            phase = .paused
        } else if (deployment.metadata.generation ?? 0) > (status.observedGeneration ?? 0) || updated < desired
            || (status.replicas ?? 0) > updated || available < updated
        {
            phase = .progressing
        }
        let current = ownedReplicaSets.first { $0.revision == revision }
        let previous =
            ownedReplicaSets
            .compactMap { set in set.revision.flatMap(Int.init).map { (number: $0, set: set) } }
            .filter { $0.number < Int(revision) ?? Int.max }
            .max { $0.number < $1.number }
        return RolloutObservation(
            revision: revision, images: deployment.spec.template.images, phase: phase, desired: desired,
            updated: updated, available: available, rolledBack: !(current?.revisionHistory.isEmpty ?? true),
            message: message, previousRevision: previous.map { String($0.number) },
            previousImages: previous?.set.spec.template?.images ?? [])
    }

    /// A StatefulSet: done when every replica runs the update revision and is ready.
    public static func of(_ statefulSet: StatefulSet) -> RolloutObservation {
        let desired = statefulSet.spec.replicas ?? 1
        let status = statefulSet.status
        let updated = status.updatedReplicas ?? 0
        let ready = status.readyReplicas ?? 0
        let progressing =
            (statefulSet.metadata.generation ?? 0) > (status.observedGeneration ?? 0) || updated < desired
            || ready < desired || (status.currentRevision != nil && status.currentRevision != status.updateRevision)
        return RolloutObservation(
            revision: status.updateRevision ?? "", images: statefulSet.spec.template.images,
            phase: progressing ? .progressing : .complete, desired: desired, updated: updated,
            available: status.availableReplicas ?? ready,
            previousRevision: status.currentRevision == status.updateRevision ? nil : status.currentRevision)
    }

    /// A DaemonSet. Its revision is its generation: the API keeps the template hash in
    /// ControllerRevisions, which the agent does not read.
    public static func of(_ daemonSet: DaemonSet) -> RolloutObservation {
        let status = daemonSet.status
        let desired = status.desiredNumberScheduled ?? 0
        let updated = status.updatedNumberScheduled ?? 0
        let available = status.numberAvailable ?? 0
        let progressing =
            (daemonSet.metadata.generation ?? 0) > (status.observedGeneration ?? 0) || updated < desired
            || available < desired
        return RolloutObservation(
            revision: String(daemonSet.metadata.generation ?? 0), images: daemonSet.spec.template.images,
            phase: progressing ? .progressing : .complete, desired: desired, updated: updated, available: available)
    }

    /// An Argo Rollout, by the phase its controller reports.
    public static func of(_ rollout: ArgoRollout) -> RolloutObservation {
        let status = rollout.status
        let phase: RolloutPhase =
            switch status.phase {
            case "Healthy": .complete
            case "Degraded": .failed
            case "Paused": .paused
            default: .progressing
            }
        return RolloutObservation(
            revision: rollout.revision ?? "", images: rollout.spec.template?.images ?? [], phase: phase,
            desired: rollout.spec.replicas ?? 1, updated: status.updatedReplicas ?? 0,
            available: status.availableReplicas ?? 0, rolledBack: status.abort == true,
            message: phase == .failed || status.abort == true ? status.message : nil)
    }
}
