/// An `apps/v1` ControllerRevision: one revision of a StatefulSet's or DaemonSet's pod template.
/// The agent reads only who owns it, its number and its hash (not the template it stores): the
/// highest-numbered revision a DaemonSet owns is its current one, and a `kubectl rollout undo`
/// makes an old revision current again by raising its number.
public struct ControllerRevision: KubernetesObject, Equatable {
    public static let resource = ResourceDescriptor(
        group: "apps", version: "v1", plural: "controllerrevisions", kind: "ControllerRevision")

    public var metadata: ObjectMeta
    /// The revision number `kubectl rollout history` shows.
    public var revision: Int64

    public init(metadata: ObjectMeta, revision: Int64) {
        self.metadata = metadata
        self.revision = revision
    }

    /// `controller-revision-hash`: a DaemonSet's pods carry this hash, a StatefulSet's the full name.
    public var hash: String? { metadata.label("controller-revision-hash") }
}
