/// A Kubernetes workload that owns pods: a Deployment, StatefulSet, DaemonSet, Argo Rollout,
/// Job, or a bare pod.
public struct WorkloadRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var kind: String
    public var namespace: String
    public var name: String

    public init(kind: String, namespace: String, name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    public var description: String { "\(namespace)/\(kind.lowercased())/\(name)" }

    public static func < (lhs: WorkloadRef, rhs: WorkloadRef) -> Bool {
        (lhs.namespace, lhs.kind, lhs.name) < (rhs.namespace, rhs.kind, rhs.name)
    }
}
