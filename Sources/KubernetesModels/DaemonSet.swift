/// A DaemonSet: template, generations and scheduled/updated/available counts.
public struct DaemonSet: KubernetesObject, Equatable {
    public static let resource = ResourceDescriptor(
        group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet")

    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status

    public init(metadata: ObjectMeta, spec: Spec, status: Status = Status()) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var template: PodTemplate
        public init(template: PodTemplate) { self.template = template }
        private enum CodingKeys: String, CodingKey { case template }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var observedGeneration: Int64?
        public var desiredNumberScheduled: Int?
        public var currentNumberScheduled: Int?
        public var updatedNumberScheduled: Int?
        public var numberReady: Int?
        public var numberAvailable: Int?
        public init(
            observedGeneration: Int64? = nil, desiredNumberScheduled: Int? = nil, currentNumberScheduled: Int? = nil,
            updatedNumberScheduled: Int? = nil, numberReady: Int? = nil, numberAvailable: Int? = nil
        ) {
            self.observedGeneration = observedGeneration
            self.desiredNumberScheduled = desiredNumberScheduled
            self.currentNumberScheduled = currentNumberScheduled
            self.updatedNumberScheduled = updatedNumberScheduled
            self.numberReady = numberReady
            self.numberAvailable = numberAvailable
        }
        private enum CodingKeys: String, CodingKey {
            case observedGeneration, desiredNumberScheduled, currentNumberScheduled, updatedNumberScheduled
            case numberReady, numberAvailable
        }
    }
}
