import FathomModel
import KubernetesModels

/// How the inventory reads the cluster.
public struct InventorySettings: Sendable, Equatable {
    /// Linkerd's control-plane namespace: a meshed pod's `linkerd.io/control-plane-ns` must name it.
    public var controlPlaneNamespace: String
    public var namespaces: NamespaceFilter
    /// The control plane's version when known from configuration; otherwise read from the
    /// control-plane pods.
    public var controlPlaneVersion: String?

    public init(
        controlPlaneNamespace: String = "linkerd", namespaces: NamespaceFilter = .all,
        controlPlaneVersion: String? = nil
    ) {
        self.controlPlaneNamespace = controlPlaneNamespace
        self.namespaces = namespaces
        self.controlPlaneVersion = controlPlaneVersion
    }
}

/// The agent's pure index of the cluster: pods, their owners up to the workload, the workloads,
/// and their rollouts. Reflectors feed it deltas; it answers which pods to scrape, what each
/// workload looks like, and which rollout transitions happened. Time is passed in.
public struct ClusterInventory: Sendable {
    /// The namespace filter may change at any time (a configuration reload): objects of every
    /// namespace are kept and the filter applies to the answers.
    public var settings: InventorySettings
    public private(set) var pods: [ObjectKey: PodRecord] = [:]
    public private(set) var replicaSets: [ObjectKey: ReplicaSet] = [:]
    public private(set) var deployments: [ObjectKey: Deployment] = [:]
    public private(set) var statefulSets: [ObjectKey: StatefulSet] = [:]
    public private(set) var daemonSets: [ObjectKey: DaemonSet] = [:]
    public private(set) var rollouts: [ObjectKey: ArgoRollout] = [:]
    public private(set) var controllerRevisions: [ObjectKey: ControllerRevision] = [:]
    /// ReplicaSets by the uid of their controller (a Deployment or Rollout).
    private var replicaSetsByOwner: [String: Set<ObjectKey>] = [:]
    /// ControllerRevisions by the uid of their controller (a StatefulSet or DaemonSet).
    private var revisionsByOwner: [String: Set<ObjectKey>] = [:]
    /// The version each scraped proxy reports of itself (`proxy_build_info`), by pod.
    public private(set) var proxyBuilds: [ObjectKey: String] = [:]
    private var tracker = RolloutTracker()
    /// Resources whose first list is complete.
    public private(set) var listedResources: Set<String> = []
    /// Resources the agent may not watch now (forbidden, unauthorized, not installed): what the
    /// inventory holds of them, if anything, is stale.
    public private(set) var unavailableResources: Set<String> = []
    /// How many times each resource came back after being unavailable: an observation made
    /// since is made from other objects than one made before (they were stale meanwhile).
    private var availableAgain: [String: Int] = [:]

    /// What a kind's rollout observation reads: its own resource, and the one its revisions are
    /// kept in.
    static let observationResources: [String: (workloads: String, revisions: String)] = [
        "Deployment": ("deployments", "replicasets"), "Rollout": ("rollouts", "replicasets"),
        "StatefulSet": ("statefulsets", "controllerrevisions"), "DaemonSet": ("daemonsets", "controllerrevisions"),
    ]

    public init(settings: InventorySettings = InventorySettings()) {
        self.settings = settings
    }

    // MARK: - Applying changes

    /// Applies a reflector's deltas and returns the rollout transitions they caused. `listed`
    /// marks the end of the resource's first complete list: workloads that appear after it were
    /// created while the agent watched, and their first revision is reported as a rollout.
    public mutating func apply<Object: KubernetesObject>(
        _ deltas: [ReflectorDelta<Object>], at time: Double, listed: Bool = false
    ) -> [RolloutEvent] {
        let resource = Object.resource.plural
        let watching = listedResources.contains(resource)
        var touched: Set<WorkloadRef> = []
        for delta in deltas {
            switch delta {
            case .upserted(let object):
                store(object, &touched)
            case .deleted(let key, _, _):
                remove(Object.self, key, &touched)
            }
        }
        if listed && !watching {
            // The first list: the workloads that waited for it are observed now (a first sight).
            listedResources.insert(resource)
            touched.formUnion(workloads(readingFrom: resource))
        }
        return observe(touched, at: time, created: watching)
    }

    /// Records whether the agent may watch `resource` now (its watch state: not forbidden,
    /// unauthorized or uninstalled), and returns the rollout transitions that follow. While a
    /// resource a rollout is read from is unavailable, its objects are stale: no transition is
    /// derived from them (a DaemonSet's last status would complete a restart the moment its new
    /// revision appears); once it is back, the workloads it concerns are seen afresh.
    public mutating func setAvailable(_ resource: String, _ available: Bool, at time: Double) -> [RolloutEvent] {
        guard available == unavailableResources.contains(resource) else { return [] }
        if available {
            unavailableResources.remove(resource)
            availableAgain[resource, default: 0] += 1
        } else {
            unavailableResources.insert(resource)
        }
        return observe(workloads(readingFrom: resource), at: time, created: false)
    }

    /// A resource the inventory reads from: listed and watched.
    private func usable(_ resource: String) -> Bool {
        listedResources.contains(resource) && !unavailableResources.contains(resource)
    }

    /// A resource still to be listed for the first time (neither listed nor known unavailable).
    private func pending(_ resource: String) -> Bool {
        !listedResources.contains(resource) && !unavailableResources.contains(resource)
    }

    /// Every workload whose rollout observation reads `resource`.
    private func workloads(readingFrom resource: String) -> Set<WorkloadRef> {
        var refs: Set<WorkloadRef> = []
        for (kind, reads) in Self.observationResources where reads.workloads == resource || reads.revisions == resource
        {
            let keys: [ObjectKey] =
                switch kind {
                case "Deployment": Array(deployments.keys)
                case "Rollout": Array(rollouts.keys)
                case "StatefulSet": Array(statefulSets.keys)
                default: Array(daemonSets.keys)
                }
            for key in keys { refs.insert(WorkloadRef(kind: kind, namespace: key.namespace, name: key.name)) }
        }
        return refs
    }

    /// Feeds the rollout tracker the observations of `workloads` that can be made: a workload is
    /// observed only once its own resource and the one its revisions are kept in have both
    /// listed (or the latter is known unavailable), so whatever order the first lists complete
    /// in, no revision is ever named from half the objects. A workload whose own resource is
    /// unavailable keeps its last observation. Each observation names what it was made from
    /// (the resources, and how often each came back); one made from other objects than the
    /// last is a first sight, never a transition (`RolloutTracker`).
    private mutating func observe(_ workloads: Set<WorkloadRef>, at time: Double, created: Bool) -> [RolloutEvent] {
        var events: [RolloutEvent] = []
        for workload in workloads.sorted() {
            guard let reads = Self.observationResources[workload.kind], usable(reads.workloads),
                !pending(reads.revisions)
            else { continue }
            let withRevisions = usable(reads.revisions)
            let basis = Set(
                (withRevisions ? [reads.workloads, reads.revisions] : [reads.workloads]).map {
                    "\($0)@\(availableAgain[$0, default: 0])"
                })
            if let observation = observe(workload, withRevisions: withRevisions) {
                events += tracker.observe(observation, of: workload, at: time, created: created, basis: basis)
            } else {
                tracker.forget(workload)
            }
        }
        return events
    }

    private mutating func store<Object: KubernetesObject>(_ object: Object, _ touched: inout Set<WorkloadRef>) {
        let key = object.metadata.key
        switch object {
        case let pod as Pod:
            pods[key] = PodRecord(pod, controlPlaneNamespace: settings.controlPlaneNamespace)
        case let set as ReplicaSet:
            if let old = replicaSets[key], let owner = old.metadata.controller {
                replicaSetsByOwner[owner.uid]?.remove(key)
            }
            replicaSets[key] = set
            if let owner = set.metadata.controller {
                replicaSetsByOwner[owner.uid, default: []].insert(key)
                touched.insert(WorkloadRef(kind: owner.kind, namespace: key.namespace, name: owner.name))
            }
        case let deployment as Deployment:
            deployments[key] = deployment
            touched.insert(WorkloadRef(kind: "Deployment", namespace: key.namespace, name: key.name))
        case let statefulSet as StatefulSet:
            statefulSets[key] = statefulSet
            touched.insert(WorkloadRef(kind: "StatefulSet", namespace: key.namespace, name: key.name))
        case let daemonSet as DaemonSet:
            daemonSets[key] = daemonSet
            touched.insert(WorkloadRef(kind: "DaemonSet", namespace: key.namespace, name: key.name))
        case let rollout as ArgoRollout:
            rollouts[key] = rollout
            touched.insert(WorkloadRef(kind: "Rollout", namespace: key.namespace, name: key.name))
        case let revision as ControllerRevision:
            if let old = controllerRevisions[key], let owner = old.metadata.controller {
                revisionsByOwner[owner.uid]?.remove(key)
            }
            controllerRevisions[key] = revision
            if let owner = revision.metadata.controller {
                revisionsByOwner[owner.uid, default: []].insert(key)
                touched.insert(WorkloadRef(kind: owner.kind, namespace: key.namespace, name: owner.name))
            }
        default:
            break
        }
    }

    private mutating func remove<Object: KubernetesObject>(
        _ type: Object.Type, _ key: ObjectKey, _ touched: inout Set<WorkloadRef>
    ) {
        switch type {
        case is Pod.Type:
            pods[key] = nil
            proxyBuilds[key] = nil
        case is ReplicaSet.Type:
            if let old = replicaSets.removeValue(forKey: key), let owner = old.metadata.controller {
                replicaSetsByOwner[owner.uid]?.remove(key)
                touched.insert(WorkloadRef(kind: owner.kind, namespace: key.namespace, name: owner.name))
            }
        case is Deployment.Type:
            if let old = deployments.removeValue(forKey: key) { replicaSetsByOwner[old.metadata.uid] = nil }
            touched.insert(WorkloadRef(kind: "Deployment", namespace: key.namespace, name: key.name))
        case is StatefulSet.Type:
            statefulSets[key] = nil
            touched.insert(WorkloadRef(kind: "StatefulSet", namespace: key.namespace, name: key.name))
        case is DaemonSet.Type:
            daemonSets[key] = nil
            touched.insert(WorkloadRef(kind: "DaemonSet", namespace: key.namespace, name: key.name))
        case is ArgoRollout.Type:
            if let old = rollouts.removeValue(forKey: key) { replicaSetsByOwner[old.metadata.uid] = nil }
            touched.insert(WorkloadRef(kind: "Rollout", namespace: key.namespace, name: key.name))
        case is ControllerRevision.Type:
            if let old = controllerRevisions.removeValue(forKey: key), let owner = old.metadata.controller {
                revisionsByOwner[owner.uid]?.remove(key)
                touched.insert(WorkloadRef(kind: owner.kind, namespace: key.namespace, name: owner.name))
            }
        default:
            break
        }
    }

    /// The rollout observation of a workload that rolls out, nil when it is gone. Without its
    /// revisions' resource (unavailable) it is made from the workload object alone.
    private func observe(_ workload: WorkloadRef, withRevisions: Bool = true) -> RolloutObservation? {
        let key = ObjectKey(namespace: workload.namespace, name: workload.name)
        func sets(_ uid: String) -> [ReplicaSet] { withRevisions ? owned(by: uid) : [] }
        func revisions(_ uid: String) -> [ControllerRevision] { withRevisions ? self.revisions(ownedBy: uid) : [] }
        switch workload.kind {
        case "Deployment":
            guard let deployment = deployments[key] else { return nil }
            return .of(deployment, ownedReplicaSets: sets(deployment.metadata.uid))
        case "StatefulSet":
            return statefulSets[key].map { .of($0, revisions: revisions($0.metadata.uid)) }
        case "DaemonSet":
            return daemonSets[key].map { .of($0, revisions: revisions($0.metadata.uid)) }
        case "Rollout":
            return rollouts[key].map { .of($0, ownedReplicaSets: sets($0.metadata.uid)) }
        default: return nil
        }
    }

    /// Records the version a pod's proxy reports on its page (`proxy_build_info`).
    public mutating func recordProxyBuild(_ version: String, of pod: ObjectKey) {
        guard pods[pod] != nil, proxyBuilds[pod] != version else { return }
        proxyBuilds[pod] = version
    }

    /// A running pod's proxy version: what the injector recorded, or (no annotation, no image tag)
    /// what the proxy says of itself.
    func proxyVersion(of pod: PodRecord) -> String? {
        pod.proxyVersion ?? proxyBuilds[pod.key]
    }

    private func owned(by uid: String) -> [ReplicaSet] {
        (replicaSetsByOwner[uid] ?? []).compactMap { replicaSets[$0] }
    }

    private func revisions(ownedBy uid: String) -> [ControllerRevision] {
        (revisionsByOwner[uid] ?? []).compactMap { controllerRevisions[$0] }
    }

    // MARK: - Queries

    /// Objects held, by resource plural, for the agent's own metrics.
    public var objectCounts: [String: Int] {
        [
            "pods": pods.count, "replicasets": replicaSets.count, "deployments": deployments.count,
            "statefulsets": statefulSets.count, "daemonsets": daemonSets.count, "rollouts": rollouts.count,
            "controllerrevisions": controllerRevisions.count,
        ]
    }

    /// The workload that owns a pod: through its ReplicaSet to a Deployment or Argo Rollout, or
    /// its StatefulSet, DaemonSet or Job; a pod without a controller is its own workload.
    public func workload(of pod: Pod) -> WorkloadRef {
        workload(of: PodRecord(pod, controlPlaneNamespace: settings.controlPlaneNamespace))
    }

    public func workload(of pod: PodRecord) -> WorkloadRef {
        let namespace = pod.key.namespace
        guard let ownerKind = pod.ownerKind, let ownerName = pod.ownerName else {
            return WorkloadRef(kind: "Pod", namespace: namespace, name: pod.key.name)
        }
        switch ownerKind {
        case "ReplicaSet":
            if let set = replicaSets[ObjectKey(namespace: namespace, name: ownerName)] {
                if let top = set.metadata.controller, top.kind == "Deployment" || top.kind == "Rollout" {
                    return WorkloadRef(kind: top.kind, namespace: namespace, name: top.name)
                }
                return WorkloadRef(kind: "ReplicaSet", namespace: namespace, name: ownerName)
            }
            // The ReplicaSet is not listed yet: a Deployment's ReplicaSet is named
            // `<deployment>-<pod-template-hash>`, and the pod carries that hash.
            if let hash = pod.templateHash, ownerName.hasSuffix("-" + hash) {
                let name = String(ownerName.dropLast(hash.count + 1))
                let kind = rollouts[ObjectKey(namespace: namespace, name: name)] != nil ? "Rollout" : "Deployment"
                return WorkloadRef(kind: kind, namespace: namespace, name: name)
            }
            return WorkloadRef(kind: "ReplicaSet", namespace: namespace, name: ownerName)
        case "Job":
            if let cronJob = pod.cronJob {
                return WorkloadRef(kind: "CronJob", namespace: namespace, name: cronJob)
            }
            return WorkloadRef(kind: "Job", namespace: namespace, name: ownerName)
        default:
            return WorkloadRef(kind: ownerKind, namespace: namespace, name: ownerName)
        }
    }

    /// Meshed, running pods with an IP: the scrape targets, in a stable order.
    public func scrapeCandidates() -> [ScrapeCandidate] {
        pods.values.compactMap { pod -> ScrapeCandidate? in
            guard pod.meshed, pod.notScrapableReason == nil, let ip = pod.ip,
                settings.namespaces.covers(pod.key.namespace)
            else { return nil }
            return ScrapeCandidate(
                pod: pod.key, uid: pod.uid, ip: ip, port: pod.adminPort, workload: workload(of: pod),
                node: pod.nodeName, proxyVersion: pod.proxyVersion)
        }.sorted { $0.pod < $1.pod }
    }

    /// The control plane's version: configured, or the proxy version most control-plane pods carry.
    public var controlPlaneVersion: String? {
        if let configured = settings.controlPlaneVersion { return configured }
        var votes: [String: Int] = [:]
        for pod in pods.values where pod.controlPlaneComponent {
            if let version = pod.proxyVersion { votes[version, default: 0] += 1 }
        }
        return votes.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }

    /// Everything a batch's inventory carries.
    public func snapshot() -> InventorySnapshot {
        let workloads = workloads()
        var versions: [String: Int] = [:]
        for workload in workloads {
            for (version, count) in workload.proxyVersions { versions[version, default: 0] += count }
        }
        return InventorySnapshot(workloads: workloads, controlPlane: controlPlane(), proxyVersions: versions)
    }

    /// The Linkerd control plane: its version and its pods.
    public func controlPlane() -> ControlPlaneSummary {
        ControlPlaneSummary(
            namespace: settings.controlPlaneNamespace, version: controlPlaneVersion,
            pods: pods.values.filter(\.controlPlaneComponent).map { pod in
                ControlPlaneSummary.Pod(
                    name: pod.key.name, component: pod.controlPlaneComponentName ?? "", version: pod.proxyVersion,
                    phase: pod.phase, ready: pod.ready)
            }.sorted { $0.name < $1.name })
    }

    /// One summary per workload: every Deployment, StatefulSet, DaemonSet and Rollout, plus the
    /// Jobs, bare ReplicaSets and bare pods that have pods.
    public func workloads() -> [WorkloadSummary] {
        var summaries: [WorkloadRef: WorkloadSummary] = [:]
        func summary(_ ref: WorkloadRef, _ template: PodTemplate?, _ metadata: ObjectMeta) -> WorkloadSummary {
            var summary = WorkloadSummary(workload: ref)
            summary.images = template?.images ?? []
            // `app.kubernetes.io/version`, else the older `version` label, on the template or the object.
            let labels = template?.metadata?.labels ?? [:]
            summary.version =
                labels["app.kubernetes.io/version"] ?? metadata.label("app.kubernetes.io/version") ?? labels["version"]
                ?? metadata.label("version")
            summary.rollout = tracker.observation(of: ref) ?? observe(ref)
            summary.rolloutState = tracker.state(of: ref)
            return summary
        }
        /// A workload object's summary, with its replica counts as (desired, ready, updated, available).
        func add(_ kind: String, _ key: ObjectKey, _ template: PodTemplate?, _ metadata: ObjectMeta, _ counts: [Int?]) {
            let ref = WorkloadRef(kind: kind, namespace: key.namespace, name: key.name)
            var entry = summary(ref, template, metadata)
            entry.desiredReplicas = counts[0] ?? 0
            entry.readyReplicas = counts[1] ?? 0
            entry.updatedReplicas = counts[2] ?? 0
            entry.availableReplicas = counts[3] ?? entry.readyReplicas
            summaries[ref] = entry
        }
        for (key, object) in deployments {
            let status = object.status
            add(
                "Deployment", key, object.spec.template, object.metadata,
                [
                    object.spec.replicas ?? 1, status.readyReplicas, status.updatedReplicas,
                    status.availableReplicas ?? 0,
                ])
        }
        for (key, object) in statefulSets {
            let status = object.status
            add(
                "StatefulSet", key, object.spec.template, object.metadata,
                [object.spec.replicas ?? 1, status.readyReplicas, status.updatedReplicas, status.availableReplicas])
        }
        for (key, object) in daemonSets {
            let status = object.status
            add(
                "DaemonSet", key, object.spec.template, object.metadata,
                [
                    status.desiredNumberScheduled, status.numberReady, status.updatedNumberScheduled,
                    status.numberAvailable ?? 0,
                ])
        }
        for (key, object) in rollouts {
            let status = object.status
            add(
                "Rollout", key, object.spec.template, object.metadata,
                [
                    object.spec.replicas ?? 1, status.readyReplicas, status.updatedReplicas,
                    status.availableReplicas ?? 0,
                ])
        }
        let controlPlane = controlPlaneVersion
        for pod in pods.values {
            let ref = workload(of: pod)
            var entry = summaries[ref] ?? summary(ref, nil, ObjectMeta(name: ref.name, namespace: ref.namespace))
            if summaries[ref] == nil || ["Pod", "Job", "CronJob", "ReplicaSet"].contains(ref.kind) {
                // Workloads known only through their pods: count from the pods themselves (the
                // ones not finished).
                if pod.phase != "Succeeded" && pod.phase != "Failed" { entry.desiredReplicas += 1 }
                if pod.ready && pod.running {
                    entry.readyReplicas += 1
                    entry.availableReplicas += 1
                }
                if entry.images.isEmpty { entry.images = pod.images }
            }
            entry.pods += 1
            entry.podPhases[pod.phase, default: 0] += 1
            if let reason = pod.failureReason { entry.failedPodReasons[reason, default: 0] += 1 }
            if pod.meshed && pod.running {
                entry.meshedPods += 1
                let version = proxyVersion(of: pod)
                entry.proxyVersions[version ?? "unknown", default: 0] += 1
                if let build = proxyBuilds[pod.key] { entry.proxyBuildVersions[build, default: 0] += 1 }
                // A proxy of no known version (no annotation, an image by digest, not scraped by
                // this agent) is not called outdated: nothing says it is.
                if let controlPlane, let version, version != controlPlane {
                    entry.outdatedProxyPods.append(pod.key.name)
                }
            }
            summaries[ref] = entry
        }
        return summaries.values.filter { settings.namespaces.covers($0.workload.namespace) }.map { summary in
            var summary = summary
            summary.outdatedProxyPods.sort()
            return summary
        }.sorted { $0.workload < $1.workload }
    }
}
