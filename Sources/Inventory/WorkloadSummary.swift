import FathomModel
import KubernetesModels

/// What the agent reports about one workload: replicas, images, meshing, proxy versions, rollout.
public struct WorkloadSummary: Sendable, Equatable {
    public var workload: WorkloadRef
    public var desiredReplicas: Int
    public var readyReplicas: Int
    public var updatedReplicas: Int
    public var availableReplicas: Int
    /// Application container images of the template (or of the pods, for bare pods and Jobs).
    public var images: [String]
    /// `app.kubernetes.io/version` of the pod template, or of the workload.
    public var version: String?
    public var pods: Int
    /// Pods by phase (`Running`, `Pending`, `Failed`, ...).
    public var podPhases: [String: Int]
    /// Failed pods by bounded reason (`Evicted`, `NodeLost`, ..., `other`, `none`).
    public var failedPodReasons: [String: Int]
    /// Running pods with a proxy (an evicted or finished pod's proxy is gone).
    public var meshedPods: Int
    /// Running meshed pods per proxy version (the injector's `linkerd.io/proxy-version`, else the
    /// proxy's own).
    public var proxyVersions: [String: Int]
    /// Running meshed pods per version the proxies report of themselves (`proxy_build_info`'s
    /// `version`, a proxy build like `v2.329.0`): what runs, whatever the annotation says.
    public var proxyBuildVersions: [String: Int]
    /// Running meshed pods whose proxy version differs from the control plane's, by name: the pods
    /// to restart after a Linkerd upgrade (every one of them).
    public var outdatedProxyPods: [String]
    /// Rollout state of kinds that roll out (nil for Jobs and bare pods), as the objects show it.
    public var rollout: RolloutObservation?
    /// The rollout as the agent follows it: under way or not, since when, from what.
    public var rolloutState: RolloutState?

    public init(workload: WorkloadRef) {
        self.workload = workload
        desiredReplicas = 0
        readyReplicas = 0
        updatedReplicas = 0
        availableReplicas = 0
        images = []
        version = nil
        pods = 0
        podPhases = [:]
        failedPodReasons = [:]
        meshedPods = 0
        proxyVersions = [:]
        proxyBuildVersions = [:]
        outdatedProxyPods = []
        rollout = nil
        rolloutState = nil
    }
}

/// What a batch's inventory carries: every workload, the control plane, and the proxy versions
/// the cluster's running meshed pods have.
public struct InventorySnapshot: Sendable, Equatable {
    public var workloads: [WorkloadSummary]
    public var controlPlane: ControlPlaneSummary
    /// Running meshed pods per proxy version, cluster-wide (`linkerd version --proxy`).
    public var proxyVersions: [String: Int]

    public init(workloads: [WorkloadSummary], controlPlane: ControlPlaneSummary, proxyVersions: [String: Int]) {
        self.workloads = workloads
        self.controlPlane = controlPlane
        self.proxyVersions = proxyVersions
    }
}

/// The Linkerd control plane as the inventory sees it.
public struct ControlPlaneSummary: Sendable, Equatable {
    public struct Pod: Sendable, Equatable {
        public var name: String
        public var component: String
        public var version: String?
        public var phase: String
        public var ready: Bool
        /// The scheduler found no node for it.
        public var unschedulable = false
    }

    public var namespace: String
    /// Configured, or the version most of its pods run; nil when nothing says.
    public var version: String?
    public var pods: [Pod]

    public init(namespace: String, version: String?, pods: [Pod]) {
        self.namespace = namespace
        self.version = version
        self.pods = pods
    }
}

/// A meshed pod the agent should scrape now.
public struct ScrapeCandidate: Sendable, Hashable {
    public var pod: ObjectKey
    public var uid: String
    public var ip: String
    public var port: Int
    public var workload: WorkloadRef
    /// The workload's revision the pod belongs to, as the inventory and rollout events name it
    /// (`3`); empty for kinds without revisions or before the revision objects are listed.
    public var revision: String
    public var node: String?
    public var proxyVersion: String?

    /// `http://<ip>:<port>/metrics`, with IPv6 addresses bracketed.
    public var url: String {
        let host = ip.contains(":") ? "[\(ip)]" : ip
        return "http://\(host):\(port)/metrics"
    }
}
