import KubernetesModels

/// What the inventory keeps of a pod: the few fields its questions need, derived once when the
/// pod arrives. Keeping this instead of the decoded `Pod` is what holds 10,000 pods in a few MB.
public struct PodRecord: Sendable, Equatable {
    public var key: ObjectKey
    public var uid: String
    /// The controlling owner's kind and name (`ReplicaSet`, `StatefulSet`, `Job`, ...).
    public var ownerKind: String?
    public var ownerName: String?
    /// `pod-template-hash`: names a Deployment's ReplicaSet before that ReplicaSet is listed.
    public var templateHash: String?
    /// `linkerd.io/proxy-cronjob`, for pods of a CronJob's Jobs.
    public var cronJob: String?
    public var nodeName: String?
    public var ip: String?
    /// Nil when the pod may be scraped; otherwise why not (`Pending`, `Failed (Evicted)`, `no pod IP`).
    public var notScrapableReason: String?
    public var ready: Bool
    public var meshed: Bool
    public var controlPlaneComponent: Bool
    public var adminPort: Int
    public var proxyVersion: String?
    /// Application images, for workloads known only through their pods (Jobs, bare pods).
    public var images: [String]

    public init(_ pod: Pod, controlPlaneNamespace: String) {
        key = pod.metadata.key
        uid = pod.metadata.uid
        let owner = pod.metadata.controller
        ownerKind = owner?.kind
        ownerName = owner?.name
        templateHash = pod.metadata.label("pod-template-hash")
        cronJob = pod.metadata.label("linkerd.io/proxy-cronjob")
        nodeName = pod.spec.nodeName
        ip = pod.status.podIP
        notScrapableReason = MeshedPodRule.notScrapableReason(pod)
        ready = pod.isReady
        meshed = MeshedPodRule.isMeshed(pod, controlPlaneNamespace: controlPlaneNamespace)
        controlPlaneComponent =
            pod.metadata.namespace == controlPlaneNamespace
            && pod.metadata.label("linkerd.io/control-plane-component") != nil
        adminPort = MeshedPodRule.adminPort(of: pod)
        proxyVersion = meshed || controlPlaneComponent ? MeshedPodRule.proxyVersion(of: pod) : nil
        images = pod.spec.containers.filter { $0.name != MeshedPodRule.proxyContainerName }.compactMap(\.image)
    }
}
