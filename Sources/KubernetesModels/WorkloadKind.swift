/// A workload's replica counts, as `kubectl get` shows them.
public struct ReplicaCounts: Sendable, Equatable {
    public var desired: Int
    public var ready: Int
    public var updated: Int
    public var available: Int

    public init(desired: Int, ready: Int, updated: Int, available: Int) {
        self.desired = desired
        self.ready = ready
        self.updated = updated
        self.available = available
    }
}

/// The objects a workload's revisions are kept in, owned by the workload: its ReplicaSets, or
/// its ControllerRevisions (each kind reads the one its `revisionsResource` names).
public struct OwnedRevisions: Sendable {
    public var replicaSets: [ReplicaSet]
    public var controllerRevisions: [ControllerRevision]

    public init(replicaSets: [ReplicaSet] = [], controllerRevisions: [ControllerRevision] = []) {
        self.replicaSets = replicaSets
        self.controllerRevisions = controllerRevisions
    }

    public static let none = OwnedRevisions()
}

/// A workload as the inventory reads it, whatever its kind (`resource.kind` names it): its pod
/// template, replica counts, where its revisions are kept and how a pod names its own, and how
/// it rolls out. Every workload kind's object has it through its `WorkloadDefinition`.
public protocol WorkloadKind: KubernetesObject {
    /// The resource its revisions are kept in (`ReplicaSet`s, `ControllerRevision`s); nil for
    /// a kind without revisions. Its rollouts are observed only once that resource is listed.
    static var revisionsResource: ResourceDescriptor? { get }
    /// The label by which its pods name their revision (`pod-template-hash`,
    /// `controller-revision-hash`, ...); nil for a kind without revisions.
    static var podRevisionLabel: String? { get }
    /// The template its pods are made from.
    var podTemplate: PodTemplate? { get }
    var replicaCounts: ReplicaCounts { get }
    /// The workload it is part of when another object controls it (a CronJob's Job): the
    /// owner's kind and name; nil when it is a workload of its own.
    var controllingWorkload: (kind: String, name: String)? { get }
    /// Its rollout as the objects show it now, from the revisions it owns; nil for a kind that
    /// does not roll out (a Job runs to its end).
    func rolloutObservation(revisions: OwnedRevisions) -> RolloutObservation?
}

extension WorkloadKind {
    /// The kind's name, as owner references and the reports say it (`Deployment`, `Rollout`).
    public static var kindName: String { resource.kind }
}

/// One kind of workload the agent follows, in its own file: what `WorkloadKind` reads of its
/// objects. The inventory works over `WorkloadKind` alone, so a new kind is a definition and a
/// row in `WatchedResource.all`, and a kind that forgets a member does not compile.
public protocol WorkloadDefinition: ResourceDefinition {
    static var revisionsResource: ResourceDescriptor? { get }
    static var podRevisionLabel: String? { get }
    static func podTemplate(of workload: KubernetesResource<Self>) -> PodTemplate?
    static func replicaCounts(of workload: KubernetesResource<Self>) -> ReplicaCounts
    static func controllingWorkload(of workload: KubernetesResource<Self>) -> (kind: String, name: String)?
    static func rolloutObservation(of workload: KubernetesResource<Self>, revisions: OwnedRevisions)
        -> RolloutObservation?
}

extension WorkloadDefinition {
    public static func controllingWorkload(of workload: KubernetesResource<Self>) -> (kind: String, name: String)? {
        nil
    }
}

extension KubernetesResource: WorkloadKind where Definition: WorkloadDefinition {
    public static var revisionsResource: ResourceDescriptor? { Definition.revisionsResource }
    public static var podRevisionLabel: String? { Definition.podRevisionLabel }
    public var podTemplate: PodTemplate? { Definition.podTemplate(of: self) }
    public var replicaCounts: ReplicaCounts { Definition.replicaCounts(of: self) }
    public var controllingWorkload: (kind: String, name: String)? { Definition.controllingWorkload(of: self) }
    public func rolloutObservation(revisions: OwnedRevisions) -> RolloutObservation? {
        Definition.rolloutObservation(of: self, revisions: revisions)
    }
}
