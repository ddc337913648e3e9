/// A pod, reduced to what the agent reads: ownership, node, IP, phase, containers and their ports,
/// statuses and readiness.
public typealias Pod = KubernetesResource<PodDefinition>

/// What makes a `Pod`: where the API serves it, its spec and its status.
public enum PodDefinition: ResourceDefinition {
    public static let resource = ResourceDescriptor(group: "", version: "v1", plural: "pods", kind: "Pod")
    public static let emptyStatus = Status()

    public struct Spec: Codable, Sendable, Equatable {
        public var nodeName: String?
        public var containers: [Pod.Container]
        public var initContainers: [Pod.Container]?

        public init(nodeName: String? = nil, containers: [Pod.Container], initContainers: [Pod.Container]? = nil) {
            self.nodeName = nodeName
            self.containers = containers
            self.initContainers = initContainers
        }

        private enum CodingKeys: String, CodingKey { case nodeName, containers, initContainers }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            nodeName = try container.decodeIfPresent(String.self, forKey: .nodeName)
            containers = try container.decodeIfPresent([Pod.Container].self, forKey: .containers) ?? []
            initContainers = try container.decodeIfPresent([Pod.Container].self, forKey: .initContainers)
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
        public var phase: String?
        /// For example `Evicted` on a failed pod.
        public var reason: String?
        public var podIP: String?
        public var startTime: String?
        public var conditions: [Condition]?
        public var containerStatuses: [Pod.ContainerStatus]?
        public var initContainerStatuses: [Pod.ContainerStatus]?

        public init(
            phase: String? = nil, reason: String? = nil, podIP: String? = nil, startTime: String? = nil,
            conditions: [Condition]? = nil, containerStatuses: [Pod.ContainerStatus]? = nil,
            initContainerStatuses: [Pod.ContainerStatus]? = nil
        ) {
            self.phase = phase
            self.reason = reason
            self.podIP = podIP
            self.startTime = startTime
            self.conditions = conditions
            self.containerStatuses = containerStatuses
            self.initContainerStatuses = initContainerStatuses
        }
    }
}

extension Pod {
    public struct Container: Codable, Sendable, Equatable {
        public var name: String
        public var image: String?
        public var ports: [ContainerPort]?
        /// `Always` on an init container makes it a native sidecar (Kubernetes 1.28+).
        public var restartPolicy: String?
        /// The literal values of the `linkerd-proxy` container's variables the agent reads
        /// (`proxyVariables`); empty on every other container, whose environment is not kept.
        public var proxyEnvironment: [String: String]

        /// The proxy's variables the mesh's checks read: the trust anchors inlined by the
        /// injector, and the inbound policy a port without a Server falls back to.
        public static let proxyVariables: Set<String> = [
            "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS", "LINKERD2_PROXY_INBOUND_DEFAULT_POLICY",
        ]

        public init(
            name: String, image: String? = nil, ports: [ContainerPort]? = nil, restartPolicy: String? = nil,
            proxyEnvironment: [String: String] = [:]
        ) {
            self.name = name
            self.image = image
            self.ports = ports
            self.restartPolicy = restartPolicy
            self.proxyEnvironment = proxyEnvironment
        }

        private enum CodingKeys: String, CodingKey { case name, image, ports, restartPolicy, env }

        private struct Variable: Codable {
            var name: String
            var value: String?
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            image = try container.decodeIfPresent(String.self, forKey: .image)
            ports = try container.decodeIfPresent([ContainerPort].self, forKey: .ports)
            restartPolicy = try container.decodeIfPresent(String.self, forKey: .restartPolicy)
            proxyEnvironment = [:]
            guard name == "linkerd-proxy" else { return }
            for variable in try container.decodeIfPresent([Variable].self, forKey: .env) ?? []
            where Self.proxyVariables.contains(variable.name) {
                proxyEnvironment[variable.name] = variable.value
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encodeIfPresent(image, forKey: .image)
            try container.encodeIfPresent(ports, forKey: .ports)
            try container.encodeIfPresent(restartPolicy, forKey: .restartPolicy)
            if !proxyEnvironment.isEmpty {
                let variables = proxyEnvironment.keys.sorted().map { Variable(name: $0, value: proxyEnvironment[$0]) }
                try container.encode(variables, forKey: .env)
            }
        }
    }

    public struct ContainerPort: Codable, Sendable, Equatable {
        public var name: String?
        public var containerPort: Int

        public init(name: String? = nil, containerPort: Int) {
            self.name = name
            self.containerPort = containerPort
        }
    }

    public struct ContainerStatus: Codable, Sendable, Equatable {
        public var name: String
        public var ready: Bool
        public var restartCount: Int
        public var image: String?

        public init(name: String, ready: Bool, restartCount: Int = 0, image: String? = nil) {
            self.name = name
            self.ready = ready
            self.restartCount = restartCount
            self.image = image
        }

        private enum CodingKeys: String, CodingKey { case name, ready, restartCount, image }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            ready = try container.decodeIfPresent(Bool.self, forKey: .ready) ?? false
            restartCount = try container.decodeIfPresent(Int.self, forKey: .restartCount) ?? 0
            image = try container.decodeIfPresent(String.self, forKey: .image)
        }
    }

    /// The pod's `Ready` condition.
    public var isReady: Bool { status.conditions?.contains { $0.type == "Ready" && $0.status == "True" } ?? false }

}

extension PodDefinition {
    public static func selectableFields(of pod: Pod) -> [String: String] {
        pod.metadata.selectableFields.merging([
            "spec.nodeName": pod.spec.nodeName ?? "", "status.phase": pod.status.phase ?? "",
            "status.podIP": pod.status.podIP ?? "",
        ]) { _, podField in podField }
    }
}
