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
        /// `updateStrategy.rollingUpdate.partition`: ordinals below it keep the old revision.
        public var partition: Int?
        public init(replicas: Int? = 1, template: PodTemplate, partition: Int? = nil) {
            self.replicas = replicas
            self.template = template
            self.partition = partition
        }
        private enum CodingKeys: String, CodingKey { case replicas, template, updateStrategy }
        private struct UpdateStrategy: Codable, Equatable {
            struct RollingUpdate: Codable, Equatable { var partition: Int? }
            var rollingUpdate: RollingUpdate?
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            replicas = try container.decodeIfPresent(Int.self, forKey: .replicas)
            template = try container.decode(PodTemplate.self, forKey: .template)
            partition = try container.decodeIfPresent(UpdateStrategy.self, forKey: .updateStrategy)?.rollingUpdate?
                .partition
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(replicas, forKey: .replicas)
            try container.encode(template, forKey: .template)
            if let partition {
                try container.encode(
                    UpdateStrategy(rollingUpdate: .init(partition: partition)), forKey: .updateStrategy)
            }
        }
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
