/// A ReplicaSet: the link from a pod to its Deployment (or Argo Rollout), and one revision of it.
public typealias ReplicaSet = KubernetesResource<ReplicaSetDefinition>

/// What makes a `ReplicaSet`: where the API serves it, its spec and its status.
public enum ReplicaSetDefinition: ResourceDefinition {
    public static let resource = ResourceDescriptor(
        group: "apps", version: "v1", plural: "replicasets", kind: "ReplicaSet")
    public static let emptyStatus = Status()

    public struct Spec: Codable, Sendable, Equatable {
        public var replicas: Int?
        public var template: PodTemplate?
        public init(replicas: Int? = nil, template: PodTemplate? = nil) {
            self.replicas = replicas
            self.template = template
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var replicas: Int?
        public var readyReplicas: Int?
        public var availableReplicas: Int?
        public init(replicas: Int? = nil, readyReplicas: Int? = nil, availableReplicas: Int? = nil) {
            self.replicas = replicas
            self.readyReplicas = readyReplicas
            self.availableReplicas = availableReplicas
        }
    }
}

extension ReplicaSet {
    /// `deployment.kubernetes.io/revision` (or `rollout.argoproj.io/revision`).
    public var revision: String? {
        metadata.annotation("deployment.kubernetes.io/revision") ?? metadata.annotation("rollout.argoproj.io/revision")
    }

    /// Revisions this ReplicaSet had before a rollback made it current again.
    public var revisionHistory: [String] {
        metadata.annotation("deployment.kubernetes.io/revision-history")?.split(separator: ",").map(String.init) ?? []
    }
}
