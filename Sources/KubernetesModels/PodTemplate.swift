/// The part of a workload's pod template the agent reads: labels and container images.
public struct PodTemplate: Codable, Sendable, Equatable {
    public var metadata: TemplateMeta?
    public var spec: TemplateSpec

    public init(labels: [String: String]? = nil, containers: [Pod.Container], initContainers: [Pod.Container]? = nil) {
        self.metadata = TemplateMeta(labels: labels)
        self.spec = TemplateSpec(containers: containers, initContainers: initContainers)
    }

    public struct TemplateMeta: Codable, Sendable, Equatable {
        public var labels: [String: String]?
        public init(labels: [String: String]?) { self.labels = labels }
    }

    public struct TemplateSpec: Codable, Sendable, Equatable {
        public var containers: [Pod.Container]
        public var initContainers: [Pod.Container]?
        public init(containers: [Pod.Container], initContainers: [Pod.Container]?) {
            self.containers = containers
            self.initContainers = initContainers
        }
    }

    /// Images of the application containers, in template order (the proxy sidecar excluded: its
    /// version is tracked separately).
    public var images: [String] {
        spec.containers.filter { $0.name != "linkerd-proxy" }.compactMap(\.image)
    }
}
