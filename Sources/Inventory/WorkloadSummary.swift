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
    public var meshedPods: Int
    /// Meshed pods per proxy version.
    public var proxyVersions: [String: Int]
    /// Meshed pods whose proxy version differs from the control plane's, by name: the pods to
    /// restart after a Linkerd upgrade.
    public var outdatedProxyPods: [String]
    /// Rollout state of kinds that roll out (nil for Jobs and bare pods).
    public var rollout: RolloutObservation?

    public init(workload: WorkloadRef) {
        self.workload = workload
        desiredReplicas = 0
        readyReplicas = 0
        updatedReplicas = 0
        availableReplicas = 0
        images = []
        version = nil
        pods = 0
        meshedPods = 0
        proxyVersions = [:]
        outdatedProxyPods = []
        rollout = nil
    }
}

/// A meshed pod the agent should scrape now.
public struct ScrapeCandidate: Sendable, Hashable {
    public var pod: ObjectKey
    public var uid: String
    public var ip: String
    public var port: Int
    public var workload: WorkloadRef
    public var node: String?
    public var proxyVersion: String?

    /// `http://<ip>:<port>/metrics`, with IPv6 addresses bracketed.
    public var url: String {
        let host = ip.contains(":") ? "[\(ip)]" : ip
        return "http://\(host):\(port)/metrics"
    }
}
