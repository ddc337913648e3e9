/// An Argo Rollout (`argoproj.io/v1alpha1`), watched only where its CRD is installed.
public typealias ArgoRollout = KubernetesResource<ArgoRolloutDefinition>

/// What makes an `ArgoRollout`: where the API serves it, its spec and its status.
public enum ArgoRolloutDefinition: ResourceDefinition {
    public static let resource = ResourceDescriptor(
        group: "argoproj.io", version: "v1alpha1", plural: "rollouts", kind: "Rollout")
    public static let emptyStatus = Status()

    public struct Spec: Codable, Sendable, Equatable {
        public var replicas: Int?
        /// Absent when the Rollout refers to a Deployment's template (`workloadRef`).
        public var template: PodTemplate?
        public init(replicas: Int? = 1, template: PodTemplate?) {
            self.replicas = replicas
            self.template = template
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        /// `Progressing`, `Paused`, `Healthy` or `Degraded`.
        public var phase: String?
        public var message: String?
        public var observedGeneration: String?
        public var replicas: Int?
        public var updatedReplicas: Int?
        public var readyReplicas: Int?
        public var availableReplicas: Int?
        public var currentPodHash: String?
        public var stableRS: String?
        public var abort: Bool?
        public init(
            phase: String? = nil, message: String? = nil, observedGeneration: String? = nil, replicas: Int? = nil,
            updatedReplicas: Int? = nil, readyReplicas: Int? = nil, availableReplicas: Int? = nil,
            currentPodHash: String? = nil, stableRS: String? = nil, abort: Bool? = nil
        ) {
            self.phase = phase
            self.message = message
            self.observedGeneration = observedGeneration
            self.replicas = replicas
            self.updatedReplicas = updatedReplicas
            self.readyReplicas = readyReplicas
            self.availableReplicas = availableReplicas
            self.currentPodHash = currentPodHash
            self.stableRS = stableRS
            self.abort = abort
        }
    }
}

extension ArgoRollout {
    /// `rollout.argoproj.io/revision`, set by the Argo controller on each new template.
    public var revision: String? { metadata.annotation("rollout.argoproj.io/revision") }
}

extension ArgoRolloutDefinition: WorkloadDefinition {
    public static let revisionsResource: ResourceDescriptor? = ReplicaSet.resource
    public static let podRevisionLabel: String? = "rollouts-pod-template-hash"
    public static func podTemplate(of rollout: ArgoRollout) -> PodTemplate? { rollout.spec.template }
    public static func replicaCounts(of rollout: ArgoRollout) -> ReplicaCounts {
        let status = rollout.status
        return ReplicaCounts(
            desired: rollout.spec.replicas ?? 1, ready: status.readyReplicas ?? 0,
            updated: status.updatedReplicas ?? 0, available: status.availableReplicas ?? 0)
    }

    /// An Argo Rollout, by the phase its controller reports, with the ReplicaSets it owns (an
    /// undo makes an older ReplicaSet current again, as for Deployments).
    public static func rolloutObservation(of rollout: ArgoRollout, revisions: OwnedRevisions)
        -> RolloutObservation?
    {
        let (metadata, spec, status) = (rollout.metadata, rollout.spec, rollout.status)
        let ownedReplicaSets = revisions.replicaSets
        let phase: RolloutPhase =
            switch status.phase {
            case "Healthy": .complete
            case "Degraded": .failed
            case "Paused": .paused
            default: .progressing
            }
        let revision = rollout.revision ?? ""
        let current = ownedReplicaSets.first { $0.revision == revision }
        let previous = RolloutObservation.previous(ownedReplicaSets, before: revision)
        return RolloutObservation(
            revision: revision, images: spec.template?.images ?? [], phase: phase,
            desired: spec.replicas ?? 1, updated: status.updatedReplicas ?? 0,
            ready: status.readyReplicas ?? 0, available: status.availableReplicas ?? 0,
            rolledBack: status.abort == true, message: phase == .failed || status.abort == true ? status.message : nil,
            previousRevision: previous.map { String($0.number) },
            previousImages: previous?.set.spec.template?.images ?? [],
            revisionCreated: current?.metadata.creationTimestamp, resourceVersion: metadata.resourceVersion)
    }
}
