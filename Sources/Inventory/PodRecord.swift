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
    /// `controller-revision-hash`: a StatefulSet's pod names its ControllerRevision, a
    /// DaemonSet's pod its ControllerRevision's hash.
    public var controllerRevisionHash: String?
    /// `linkerd.io/proxy-cronjob`, for pods of a CronJob's Jobs.
    public var cronJob: String?
    public var nodeName: String?
    public var ip: String?
    /// Nil when the pod may be scraped; otherwise why not (`Pending`, `Failed (Evicted)`, `no pod IP`).
    public var notScrapableReason: String?
    public var ready: Bool
    /// The scheduler found no node for it (`PodScheduled` false, reason `Unschedulable`).
    public var unschedulable: Bool
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown` (a missing phase is `Pending`).
    public var phase: String
    /// Why a failed pod failed, bounded to the reasons the kubelet gives (`Evicted`, `NodeLost`,
    /// `Shutdown`...), `other` for anything else; nil for pods that did not fail.
    public var failureReason: String?
    public var meshed: Bool
    public var controlPlaneComponent: Bool
    /// `linkerd.io/control-plane-component` of a control-plane pod (`destination`, `identity`, ...).
    public var controlPlaneComponentName: String?
    public var adminPort: Int
    public var proxyVersion: String?
    /// Application images, for workloads known only through their pods (Jobs, bare pods).
    public var images: [String]
    /// A fingerprint of the trust anchors the injector inlined into the proxy's environment
    /// (whitespace trimmed), to compare with the bundle's without keeping the PEM of every pod.
    public var trustAnchorsFingerprint: Int?
    /// The proxy's `LINKERD2_PROXY_INBOUND_DEFAULT_POLICY` (`all-unauthenticated`, `deny`, ...).
    public var inboundDefaultPolicy: String?

    public init(_ pod: Pod, controlPlaneNamespace: String) {
        key = pod.metadata.key
        uid = pod.metadata.uid
        let owner = pod.metadata.controller
        ownerKind = owner?.kind
        ownerName = owner?.name
        templateHash = pod.metadata.label("pod-template-hash")
        controllerRevisionHash = pod.metadata.label("controller-revision-hash")
        cronJob = pod.metadata.label("linkerd.io/proxy-cronjob")
        nodeName = pod.spec.nodeName
        ip = pod.status.podIP
        notScrapableReason = MeshedPodRule.notScrapableReason(pod)
        ready = pod.isReady
        unschedulable =
            pod.status.conditions?.contains {
                $0.type == "PodScheduled" && $0.status == "False" && $0.reason == "Unschedulable"
            } ?? false
        phase = Self.phases.contains(pod.status.phase ?? "") ? pod.status.phase! : "Pending"
        failureReason =
            phase == "Failed"
            ? (pod.status.reason.map { Self.failureReasons.contains($0) ? $0 : "other" } ?? "none") : nil
        meshed = MeshedPodRule.isMeshed(pod, controlPlaneNamespace: controlPlaneNamespace)
        controlPlaneComponentName =
            pod.metadata.namespace == controlPlaneNamespace
            ? pod.metadata.label("linkerd.io/control-plane-component") : nil
        controlPlaneComponent = controlPlaneComponentName != nil
        adminPort = MeshedPodRule.adminPort(of: pod)
        proxyVersion = meshed || controlPlaneComponent ? MeshedPodRule.proxyVersion(of: pod) : nil
        images = pod.spec.containers.filter { $0.name != MeshedPodRule.proxyContainerName }.compactMap(\.image)
        let proxy = MeshedPodRule.proxyContainer(of: pod)
        trustAnchorsFingerprint = proxy?.proxyEnvironment["LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS"].map(
            TrustAnchorsFingerprint.of)
        inboundDefaultPolicy = proxy?.proxyEnvironment["LINKERD2_PROXY_INBOUND_DEFAULT_POLICY"]
    }

    /// Whether the pod runs now: only running pods count as meshed, run a proxy version, or can
    /// be behind the control plane (an evicted pod's proxy is gone; restarting cannot update it).
    public var running: Bool { phase == "Running" }

    static let phases: Set<String> = ["Pending", "Running", "Succeeded", "Failed", "Unknown"]
    /// The reasons a pod fails with, from the kubelet (eviction, node loss or shutdown,
    /// admission) and the Job controller; a bounded set, as it becomes a label.
    static let failureReasons: Set<String> = [
        "Evicted", "NodeLost", "Shutdown", "Terminated", "UnexpectedAdmissionError", "NodeAffinity", "OutOfcpu",
        "OutOfmemory", "OutOfpods", "DeadlineExceeded", "Preempting",
    ]
}
