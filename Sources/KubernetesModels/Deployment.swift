/// A Deployment: desired replicas, template, generations, replica counts and conditions.
public struct Deployment: KubernetesObject, Equatable {
    public static let resource = ResourceDescriptor(
        group: "apps", version: "v1", plural: "deployments", kind: "Deployment")

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
        public var template: PodTemplate
        public var paused: Bool?
        public init(replicas: Int? = 1, template: PodTemplate, paused: Bool? = nil) {
            self.replicas = replicas
            self.template = template
            self.paused = paused
        }
        private enum CodingKeys: String, CodingKey { case replicas, template, paused }
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
        private enum CodingKeys: String, CodingKey {
            case observedGeneration, replicas, updatedReplicas, readyReplicas, availableReplicas
            case unavailableReplicas, conditions
        }
    }

    /// `deployment.kubernetes.io/revision`, set by the controller on each new template.
    public var revision: String? { metadata.annotation("deployment.kubernetes.io/revision") }

    public func condition(_ type: String) -> Condition? { status.conditions?.first { $0.type == type } }
}
