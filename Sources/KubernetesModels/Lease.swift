/// A `coordination.k8s.io/v1` Lease: the lock of leader election among the agent's pods in
/// daemonset mode.
public struct Lease: KubernetesObject, Equatable {
    public static let resource = ResourceDescriptor(
        group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease")

    public var apiVersion: String? = "coordination.k8s.io/v1"
    public var kind: String? = "Lease"
    public var metadata: ObjectMeta
    public var spec: Spec

    public init(metadata: ObjectMeta, spec: Spec) {
        self.metadata = metadata
        self.spec = spec
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var holderIdentity: String?
        public var leaseDurationSeconds: Int?
        /// RFC 3339 with microseconds (`MicroTime`).
        public var acquireTime: String?
        public var renewTime: String?
        public var leaseTransitions: Int?

        public init(
            holderIdentity: String? = nil, leaseDurationSeconds: Int? = nil, acquireTime: String? = nil,
            renewTime: String? = nil, leaseTransitions: Int? = nil
        ) {
            self.holderIdentity = holderIdentity
            self.leaseDurationSeconds = leaseDurationSeconds
            self.acquireTime = acquireTime
            self.renewTime = renewTime
            self.leaseTransitions = leaseTransitions
        }
    }
}
