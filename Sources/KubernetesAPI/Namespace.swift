/// A namespace: its name and labels (for include/exclude filters).
public struct Namespace: KubernetesObject, Equatable {
    public static let resource = ResourceDescriptor(
        group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false)

    public var metadata: ObjectMeta

    public init(metadata: ObjectMeta) {
        self.metadata = metadata
    }
}
