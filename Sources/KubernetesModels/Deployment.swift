/// A Deployment: desired replicas, template, generations, replica counts and conditions.
public typealias Deployment = KubernetesResource<DeploymentDefinition>

/// What makes a `Deployment`: where the API serves it, its spec and its status.
public enum DeploymentDefinition: ResourceDefinition {
    public static let resource = ResourceDescriptor(
        group: "apps", version: "v1", plural: "deployments", kind: "Deployment")
    public static let emptyStatus = Status()

    public struct Spec: Codable, Sendable, Equatable {
        public var replicas: Int?
        public var template: PodTemplate
        public var paused: Bool?
        public init(replicas: Int? = 1, template: PodTemplate, paused: Bool? = nil) {
            self.replicas = replicas
            self.template = template
            self.paused = paused
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var observedGeneration: Int64?
        public var replicas: Int?
        public var updatedReplicas: Int?
        public var readyReplicas: Int?
        public var availableReplicas: Int?
        public var unavailableReplicas: Int?
        public var conditions: [Condition]?
        public init(
            observedGeneration: Int64? = nil, replicas: Int? = nil, updatedReplicas: Int? = nil,
            readyReplicas: Int? = nil, availableReplicas: Int? = nil, unavailableReplicas: Int? = nil,
            conditions: [Condition]? = nil
        ) {
            self.observedGeneration = observedGeneration
            self.replicas = replicas
            self.updatedReplicas = updatedReplicas
            self.readyReplicas = readyReplicas
            self.availableReplicas = availableReplicas
            self.unavailableReplicas = unavailableReplicas
            self.conditions = conditions
        }
    }
}

extension Deployment {
    /// `deployment.kubernetes.io/revision`, set by the controller on each new template.
    public var revision: String? { metadata.annotation("deployment.kubernetes.io/revision") }

    public func condition(_ type: String) -> Condition? { status.conditions?.first { $0.type == type } }
}

extension DeploymentDefinition: WorkloadDefinition {
    public static let revisionsResource: ResourceDescriptor? = ReplicaSet.resource
    public static let podRevisionLabel: String? = "pod-template-hash"
    public static func podTemplate(of deployment: Deployment) -> PodTemplate? { deployment.spec.template }
    public static func replicaCounts(of deployment: Deployment) -> ReplicaCounts {
        let status = deployment.status
        return ReplicaCounts(
            desired: deployment.spec.replicas ?? 1, ready: status.readyReplicas ?? 0,
            updated: status.updatedReplicas ?? 0, available: status.availableReplicas ?? 0)
    }

    /// A Deployment, with the ReplicaSets it owns (for rollbacks and the previous revision).
    public static func rolloutObservation(of deployment: Deployment, revisions: OwnedRevisions)
        -> RolloutObservation?
    {
        let (metadata, spec, status) = (deployment.metadata, deployment.spec, deployment.status)
        let ownedReplicaSets = revisions.replicaSets
        let desired = spec.replicas ?? 1
        // Zero counts are omitted by the API server: missing means 0.
        let updated = status.updatedReplicas ?? 0
        let available = status.availableReplicas ?? 0
        let revision = deployment.revision ?? ""
        let observed = RolloutObservation.isObserved(metadata, status.observedGeneration)
        var phase = RolloutPhase.complete
        var message: String?
        if observed, let progressing = deployment.condition("Progressing"),
            progressing.reason == "ProgressDeadlineExceeded"
        {
            phase = .failed
            message = progressing.message
        } else if spec.paused == true {
            phase = .paused
        } else if !observed || updated < desired || (status.replicas ?? 0) > updated || available < updated {
            phase = .progressing
        }
        let current = ownedReplicaSets.first { $0.revision == revision }
        let previous = RolloutObservation.previous(ownedReplicaSets, before: revision)
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
            revision: revision, images: spec.template.images, phase: phase, desired: desired,
            updated: updated, ready: status.readyReplicas ?? 0, available: available, observed: observed,
            rolledBack: !(current?.revisionHistory.isEmpty ?? true), message: message,
            previousRevision: previous.map { String($0.number) },
            previousImages: previous?.set.spec.template?.images ?? [],
            revisionCreated: current?.metadata.creationTimestamp, resourceVersion: metadata.resourceVersion,
            replacing: replacing)
    }
}
