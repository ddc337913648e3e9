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
    /// Workload objects, by kind (`Deployment`, `Job`, ...) and key.
    private var workloadObjects: [String: [ObjectKey: any WorkloadKind]] = [:]
    /// The objects workloads keep their revisions in (ReplicaSets, ControllerRevisions), by resource
    /// plural and key, and by the uid of the workload that controls them.
    private var revisionObjects: [String: [ObjectKey: any KubernetesObject]] = [:]
    private var revisionsByOwner: [String: [String: Set<ObjectKey>]] = [:]
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

    /// The workload kinds, from the registry of watched resources.
    static let kinds: [any WorkloadKind.Type] = WatchedResource.all.compactMap { $0.model as? any WorkloadKind.Type }
    static let kindsByName: [String: any WorkloadKind.Type] = Dictionary(
        uniqueKeysWithValues: kinds.map { ($0.kindName, $0) })
    /// The resources workloads keep their revisions in.
    static let revisionResources: Set<String> = Set(kinds.compactMap { $0.revisionsResource?.plural })

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
        for kind in Self.kinds where kind.resource.plural == resource || kind.revisionsResource?.plural == resource {
            for key in (workloadObjects[kind.kindName] ?? [:]).keys {
                refs.insert(WorkloadRef(kind: kind.kindName, namespace: key.namespace, name: key.name))
            }
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
            guard let kind = Self.kindsByName[workload.kind], usable(kind.resource.plural) else { continue }
            let revisions = kind.revisionsResource?.plural
            if let revisions, pending(revisions) { continue }
            let withRevisions = revisions.map(usable) ?? false
            let basis = Set(
                ([kind.resource.plural] + (withRevisions ? [revisions!] : [])).map {
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
        if let pod = object as? Pod {
            pods[key] = PodRecord(pod, controlPlaneNamespace: settings.controlPlaneNamespace)
        } else if let workload = object as? any WorkloadKind {
            let kind = type(of: workload).kindName
            workloadObjects[kind, default: [:]][key] = workload
            touched.insert(WorkloadRef(kind: kind, namespace: key.namespace, name: key.name))
        } else if Self.revisionResources.contains(Object.resource.plural) {
            if let owner = unindexRevision(Object.resource.plural, key) { touched.insert(owner) }
            revisionObjects[Object.resource.plural, default: [:]][key] = object
            if let owner = object.metadata.controller {
                revisionsByOwner[Object.resource.plural, default: [:]][owner.uid, default: []].insert(key)
                touched.insert(WorkloadRef(kind: owner.kind, namespace: key.namespace, name: owner.name))
            }
        }
    }

    private mutating func remove<Object: KubernetesObject>(
        _ type: Object.Type, _ key: ObjectKey, _ touched: inout Set<WorkloadRef>
    ) {
        let resource = Object.resource.plural
        if type is Pod.Type {
            pods[key] = nil
            proxyBuilds[key] = nil
        } else if let kind = type as? any WorkloadKind.Type {
            if let old = workloadObjects[kind.kindName]?.removeValue(forKey: key),
                let revisions = kind.revisionsResource
            {
                revisionsByOwner[revisions.plural]?[old.metadata.uid] = nil
            }
            touched.insert(WorkloadRef(kind: kind.kindName, namespace: key.namespace, name: key.name))
        } else if Self.revisionResources.contains(resource) {
            if let owner = unindexRevision(resource, key) { touched.insert(owner) }
            revisionObjects[resource]?[key] = nil
        }
    }

    /// Takes a revision object out of its owner's index; the owner, whose revisions changed.
    private mutating func unindexRevision(_ resource: String, _ key: ObjectKey) -> WorkloadRef? {
        guard let old = revisionObjects[resource]?[key], let owner = old.metadata.controller else { return nil }
        revisionsByOwner[resource]?[owner.uid]?.remove(key)
        return WorkloadRef(kind: owner.kind, namespace: key.namespace, name: owner.name)
    }

    /// The rollout observation of a workload that rolls out, nil when it is gone or does not
    /// roll out. Without its revisions' resource (unavailable) it is made from the workload
    /// object alone.
    private func observe(_ workload: WorkloadRef, withRevisions: Bool = true) -> RolloutObservation? {
        guard let kind = Self.kindsByName[workload.kind],
            let object = workloadObjects[workload.kind]?[ObjectKey(namespace: workload.namespace, name: workload.name)]
        else { return nil }
        var owned = OwnedRevisions.none
        if withRevisions, let revisions = kind.revisionsResource?.plural {
            let objects = (revisionsByOwner[revisions]?[object.metadata.uid] ?? []).compactMap {
                revisionObjects[revisions]?[$0]
            }
            owned.replicaSets = objects.compactMap { $0 as? ReplicaSet }
            owned.controllerRevisions = objects.compactMap { $0 as? ControllerRevision }
        }
        return object.rolloutObservation(revisions: owned)
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

    /// The ReplicaSets held (a Deployment's or Rollout's revisions), by key.
    public var replicaSets: [ObjectKey: ReplicaSet] {
        (revisionObjects[ReplicaSet.resource.plural] ?? [:]).compactMapValues { $0 as? ReplicaSet }
    }

    /// The workload objects of one kind, by key.
    public func objects<Kind: WorkloadKind>(_ kind: Kind.Type) -> [ObjectKey: Kind] {
        (workloadObjects[kind.kindName] ?? [:]).compactMapValues { $0 as? Kind }
    }

    // MARK: - Queries

    /// Objects held, by resource plural, for the agent's own metrics.
    public var objectCounts: [String: Int] {
        var counts = ["pods": pods.count]
        for kind in Self.kinds { counts[kind.resource.plural] = workloadObjects[kind.kindName]?.count ?? 0 }
        for resource in Self.revisionResources { counts[resource] = revisionObjects[resource]?.count ?? 0 }
        return counts
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
        let ownerKey = ObjectKey(namespace: namespace, name: ownerName)
        if ownerKind == ReplicaSet.resource.kind {
            if let set = revisionObjects[ReplicaSet.resource.plural]?[ownerKey] {
                if let top = set.metadata.controller, Self.kindsByName[top.kind] != nil {
                    return WorkloadRef(kind: top.kind, namespace: namespace, name: top.name)
                }
                return WorkloadRef(kind: ownerKind, namespace: namespace, name: ownerName)
            }
            // The ReplicaSet is not listed yet: a Deployment's (or Rollout's) ReplicaSet is named
            // `<workload>-<pod-template-hash>`, and the pod carries that hash.
            if let hash = pod.templateHash, ownerName.hasSuffix("-" + hash) {
                let name = String(ownerName.dropLast(hash.count + 1))
                let key = ObjectKey(namespace: namespace, name: name)
                let kind =
                    Self.kinds.first {
                        $0.revisionsResource == ReplicaSet.resource && workloadObjects[$0.kindName]?[key] != nil
                    }?.kindName ?? Deployment.kindName
                return WorkloadRef(kind: kind, namespace: namespace, name: name)
            }
            return WorkloadRef(kind: ownerKind, namespace: namespace, name: ownerName)
        }
        if let object = workloadObjects[ownerKind]?[ownerKey], let controlling = object.controllingWorkload {
            return WorkloadRef(kind: controlling.kind, namespace: namespace, name: controlling.name)
        }
        // A Job not listed yet: Linkerd's injector labels a CronJob's pods with it.
        if ownerKind == Job.kindName, workloadObjects[ownerKind]?[ownerKey] == nil, let cronJob = pod.cronJob {
            return WorkloadRef(kind: "CronJob", namespace: namespace, name: cronJob)
        }
        return WorkloadRef(kind: ownerKind, namespace: namespace, name: ownerName)
    }

    /// Meshed, running pods with an IP: the scrape targets, in a stable order.
    public func scrapeCandidates() -> [ScrapeCandidate] {
        pods.values.compactMap { pod -> ScrapeCandidate? in
            guard pod.meshed, pod.notScrapableReason == nil, let ip = pod.ip,
                settings.namespaces.covers(pod.key.namespace)
            else { return nil }
            let workload = workload(of: pod)
            return ScrapeCandidate(
                pod: pod.key, uid: pod.uid, ip: ip, port: pod.adminPort, workload: workload,
                revision: revision(of: pod, in: workload) ?? "", node: pod.nodeName, proxyVersion: pod.proxyVersion)
        }.sorted { $0.pod < $1.pod }
    }

    /// The revision of its workload a pod runs, named as the workload's rollout observation names
    /// its revisions: the revision number of the ReplicaSet that owns it (Deployments, Argo
    /// Rollouts), or of the ControllerRevision its `controller-revision-hash` names (a
    /// StatefulSet's pods carry the revision's name, a DaemonSet's its hash). Nil for kinds
    /// without revisions, or while the revision objects are not known.
    public func revision(of pod: PodRecord, in workload: WorkloadRef) -> String? {
        guard let kind = Self.kindsByName[workload.kind], let resource = kind.revisionsResource else { return nil }
        let namespace = pod.key.namespace
        switch resource {
        case ReplicaSet.resource:
            guard pod.ownerKind == ReplicaSet.resource.kind, let owner = pod.ownerName else { return nil }
            let set = revisionObjects[resource.plural]?[ObjectKey(namespace: namespace, name: owner)] as? ReplicaSet
            return set?.revision
        case ControllerRevision.resource:
            guard let hash = pod.controllerRevisionHash,
                let object = workloadObjects[workload.kind]?[ObjectKey(namespace: namespace, name: workload.name)]
            else { return nil }
            for key in revisionsByOwner[resource.plural]?[object.metadata.uid] ?? [] {
                guard let revision = revisionObjects[resource.plural]?[key] as? ControllerRevision else { continue }
                if revision.metadata.name == hash || revision.hash == hash { return String(revision.revision) }
            }
            return nil
        default:
            return nil
        }
    }

    /// The revision number of the ReplicaSet `name` in `namespace` (`deployment.kubernetes.io/revision`
    /// or Argo Rollouts' annotation), as rollout events name it; nil when the inventory does not
    /// hold it. How a destination's revision, which the proxies name by ReplicaSet, is numbered.
    public func revision(ofReplicaSet name: String, namespace: String) -> String? {
        let set = revisionObjects[ReplicaSet.resource.plural]?[ObjectKey(namespace: namespace, name: name)]
        return (set as? ReplicaSet)?.revision
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
                    phase: pod.phase, ready: pod.ready, unschedulable: pod.unschedulable)
            }.sorted { $0.name < $1.name })
    }

    /// One summary per workload: every workload object (a CronJob's Jobs as the CronJob), plus
    /// the bare ReplicaSets and bare pods that have pods.
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
        // Each workload object, counted as its status says; the objects a CronJob controls (its
        // Jobs) add up into the CronJob's.
        var fromObjects: Set<WorkloadRef> = []
        for kind in Self.kinds {
            for (key, object) in workloadObjects[kind.kindName] ?? [:] {
                let ref =
                    object.controllingWorkload.map {
                        WorkloadRef(kind: $0.kind, namespace: key.namespace, name: $0.name)
                    }
                    ?? WorkloadRef(kind: kind.kindName, namespace: key.namespace, name: key.name)
                var entry = summaries[ref] ?? summary(ref, object.podTemplate, object.metadata)
                let counts = object.replicaCounts
                entry.desiredReplicas += counts.desired
                entry.readyReplicas += counts.ready
                entry.updatedReplicas += counts.updated
                entry.availableReplicas += counts.available
                summaries[ref] = entry
                fromObjects.insert(ref)
            }
        }
        let controlPlane = controlPlaneVersion
        for pod in pods.values {
            let ref = workload(of: pod)
            var entry = summaries[ref] ?? summary(ref, nil, ObjectMeta(name: ref.name, namespace: ref.namespace))
            if !fromObjects.contains(ref) {
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
