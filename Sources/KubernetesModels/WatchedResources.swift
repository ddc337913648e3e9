/// One resource the agent lists and watches: the model it decodes into (which names the API
/// group, version and plural), the verbs the agent uses on it, and whether the agent can do its
/// job without it.
///
/// `WatchedResource.all` is the one list of them: discovery starts a reflector per row, `check`
/// tries each row's verbs, the per-resource metrics are created from it, and a chart test holds
/// the chart's ClusterRole to it. A new workload kind is a model file and a row here.
public struct WatchedResource: Sendable {
    /// Whether the agent needs the resource.
    public enum Requirement: Sendable, Equatable {
        /// Always served by Kubernetes; the agent watches it from the start.
        case required
        /// A custom resource, watched only where its CRD is installed (API discovery says so).
        case whereInstalled
    }

    public var model: any KubernetesObject.Type
    /// What the agent does with it: exactly the verbs its ClusterRole grants.
    public var verbs: [String]
    public var requirement: Requirement
    /// In daemonset mode each agent watches only its own node's objects (a `spec.nodeName` field
    /// selector); the others are watched cluster-wide by every agent.
    public var perNode: Bool
    /// Whether a change to it can change the scrape targets, their workloads or their revisions
    /// (a pod, the owners a pod's workload is found through, the objects its revision is named
    /// from).
    public var decidesTargets: Bool

    public var resource: ResourceDescriptor { model.resource }

    /// The resources the agent lists and watches cluster-wide; besides them it reads only its
    /// Lease (daemonset mode) and one ConfigMap by name (`TrustRootsPermissions`), never a Secret.
    public static let all: [WatchedResource] = [
        WatchedResource(model: Pod.self, requirement: .required, perNode: true, decidesTargets: true),
        WatchedResource(model: ReplicaSet.self, requirement: .required, decidesTargets: true),
        WatchedResource(model: Deployment.self, requirement: .required),
        WatchedResource(model: StatefulSet.self, requirement: .required, decidesTargets: true),
        WatchedResource(model: DaemonSet.self, requirement: .required, decidesTargets: true),
        // A StatefulSet's and a DaemonSet's revisions (their numbers, not their templates).
        WatchedResource(model: ControllerRevision.self, requirement: .required, decidesTargets: true),
        WatchedResource(model: ArgoRollout.self, requirement: .whereInstalled, decidesTargets: true),
        // Jobs, and through their owners CronJobs: a pod's workload.
        WatchedResource(model: Job.self, requirement: .required, decidesTargets: true),
    ]

    /// The verbs of every watched resource: a LIST, then a WATCH from its resource version.
    public static let readVerbs = ["list", "watch"]

    public init(
        model: any KubernetesObject.Type, verbs: [String] = WatchedResource.readVerbs, requirement: Requirement,
        perNode: Bool = false, decidesTargets: Bool = false
    ) {
        self.model = model
        self.verbs = verbs
        self.requirement = requirement
        self.perNode = perNode
        self.decidesTargets = decidesTargets
    }
}

/// The one object the agent writes, in daemonset mode only: its leader-election Lease, in its own
/// namespace (a Role, not a ClusterRole).
public enum LeaderElectionPermissions {
    public static let resource = Lease.resource
    /// Read the holder, create the Lease the first time, renew or take it over.
    public static let verbs = ["get", "create", "update"]
}
