/// An Argo Rollout (`argoproj.io/v1alpha1`), watched only where its CRD is installed.
public struct ArgoRollout: KubernetesObject, Equatable {
    public static let resource = ResourceDescriptor(
        group: "argoproj.io", version: "v1alpha1", plural: "rollouts", kind: "Rollout")

    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status

    public init(metadata: ObjectMeta, spec: Spec, status: Status = Status()) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

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

    /// `rollout.argoproj.io/revision`, set by the Argo controller on each new template.
    public var revision: String? { metadata.annotation("rollout.argoproj.io/revision") }
}

extension ArgoRollout: WorkloadKind {
    public static var revisionsResource: ResourceDescriptor? { ReplicaSet.resource }
    public static var podRevisionLabel: String? { "rollouts-pod-template-hash" }
    public var podTemplate: PodTemplate? { spec.template }
    public var replicaCounts: ReplicaCounts {
        ReplicaCounts(
            desired: spec.replicas ?? 1, ready: status.readyReplicas ?? 0, updated: status.updatedReplicas ?? 0,
            available: status.availableReplicas ?? 0)
    }

    /// An Argo Rollout, by the phase its controller reports, with the ReplicaSets it owns (an
    /// undo makes an older ReplicaSet current again, as for Deployments).
    public func rolloutObservation(revisions: OwnedRevisions) -> RolloutObservation? {
        let ownedReplicaSets = revisions.replicaSets
        let status = status
        let phase: RolloutPhase =
            switch status.phase {
            case "Healthy": .complete
            case "Degraded": .failed
            case "Paused": .paused
            default: .progressing
            }
        let revision = revision ?? ""
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
