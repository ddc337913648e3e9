/// A StatefulSet: replicas, template, generations and its current and update revisions.
public struct StatefulSet: KubernetesObject, Equatable {
    public static let resource = ResourceDescriptor(
        group: "apps", version: "v1", plural: "statefulsets", kind: "StatefulSet")

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
        public init(replicas: Int? = 1, template: PodTemplate) {
            self.replicas = replicas
            self.template = template
        }
        private enum CodingKeys: String, CodingKey { case replicas, template }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var observedGeneration: Int64?
        public var replicas: Int?
        public var readyReplicas: Int?
        public var updatedReplicas: Int?
        public var availableReplicas: Int?
        public var currentRevision: String?
        public var updateRevision: String?
        public init(
            observedGeneration: Int64? = nil, replicas: Int? = nil, readyReplicas: Int? = nil,
            updatedReplicas: Int? = nil, availableReplicas: Int? = nil, currentRevision: String? = nil,
            updateRevision: String? = nil
        ) {
            self.observedGeneration = observedGeneration
            self.replicas = replicas
            self.readyReplicas = readyReplicas
            self.updatedReplicas = updatedReplicas
            self.availableReplicas = availableReplicas
            self.currentRevision = currentRevision
            self.updateRevision = updateRevision
        }
        private enum CodingKeys: String, CodingKey {
            case observedGeneration, replicas, readyReplicas, updatedReplicas, availableReplicas
            case currentRevision, updateRevision
        }
    }
}
