/// A ConfigMap. The agent reads one only: Linkerd's trust bundle (`TrustRootsPermissions`).
public struct ConfigMap: KubernetesObject, Equatable {
    public static let resource = ResourceDescriptor(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap")

    public var metadata: ObjectMeta
    public var data: [String: String]?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }
}

/// The one ConfigMap the agent reads, in the control-plane namespace: the mesh's trust anchors,
/// which Linkerd 2.12+ keeps in `linkerd-identity-trust-roots` (key `ca-bundle.crt`), never a
/// Secret. A namespaced Role grants exactly these verbs on exactly this name (`resourceNames`);
/// the list and the watch name it in a field selector, without which such a Role refuses them.
public enum TrustRootsPermissions {
    public static let resource = ConfigMap.resource
    public static let name = "linkerd-identity-trust-roots"
    public static let key = "ca-bundle.crt"
    public static let verbs = ["get", "list", "watch"]
    public static let fieldSelector = "metadata.name=\(name)"
}
