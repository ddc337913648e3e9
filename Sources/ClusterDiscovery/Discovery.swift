import FathomModel
import Inventory
import KubernetesAPI
import KubernetesModels
import Logging
import MeshHealth
import Synchronization

/// The agent's view of the cluster: one reflector per row of `WatchedResource.all` feeding one
/// `ClusterInventory`, the meshed pods handed to the scraper as they change, rollout events kept
/// for the next batch.
///
/// Each resource has a watch state (`ResourceWatchState`). What synced is used: the scrape
/// targets are published once pods are listed and every other required resource is settled
/// (listed, or known to be unavailable: forbidden, unauthorized, not installed), so one missing
/// permission never blinds the agent. The same rule makes the agent ready (`/readyz`); a
/// forbidden resource does not hold readiness back, because readiness gates the Service that
/// carries the agent's own `/metrics`, where the forbidden resource is reported
/// (`fathom_kubernetes_resource_state`), as it is in every batch's health and, once, in the log.
///
/// In daemonset mode (`nodeName`) each agent scrapes only its node's pods. Pods are watched with
/// a field selector on the node, except by the leader (`leads`), which reports the cluster-wide
/// inventory and so watches every pod while it leads: its stale-proxy lists, pod counts and
/// control-plane version cover every node. When leadership changes hands, the pod watch starts
/// again with the other selector (a fresh list).
public final class Discovery: Sendable {
    struct State: Sendable {
        var inventory: ClusterInventory
        var rolloutEvents: [RolloutEvent] = []
        /// The resources watched (or found unavailable), each with its state and last error.
        var watches: [String: (state: ResourceWatchState, message: String?)] = [:]
        /// Required resources, which readiness and publishing wait for.
        var required: Set<String> = []
        var targetsChanged = false
        var stopping = false
        /// Daemonset mode: whether the pods held are every node's (the leader's watch has listed
        /// them all), as opposed to this node's only or in the middle of the switch.
        var everyNodesPodsListed = false

        /// Pods listed, and every other required resource listed or settled. Once listed, a
        /// resource stays usable while its watch fails and retries (as client-go's HasSynced
        /// stays true): what was listed is still the best there is.
        var canPublish: Bool {
            guard inventory.listedResources.contains("pods") else { return false }
            return required.allSatisfy {
                inventory.listedResources.contains($0) || (watches[$0]?.state.isSettled ?? false)
            }
        }
    }

    private let client: KubernetesClient
    private let nodeName: String?
    private let leads: (@Sendable () -> Bool)?
    private let reflectorSettings: ReflectorSettings
    private let logger: Logger
    private let observer: any DiscoveryObserver
    private let now: @Sendable () -> Double
    private let state: Mutex<State>
    /// The mesh's trust bundle, followed beside the watched resources (in the control-plane
    /// namespace, by name): for the checks, never for readiness.
    private let trustRoots: TrustRootsWatch?

    public init(
        client: KubernetesClient, settings: InventorySettings, nodeName: String? = nil,
        leads: (@Sendable () -> Bool)? = nil, reflectorSettings: ReflectorSettings = ReflectorSettings(),
        logger: Logger, observer: any DiscoveryObserver = UnobservedDiscovery(),
        now: @escaping @Sendable () -> Double
    ) {
        self.client = client
        self.nodeName = nodeName.flatMap { $0.isEmpty ? nil : $0 }
        self.leads = leads
        self.reflectorSettings = reflectorSettings
        self.logger = logger
        self.observer = observer
        self.now = now
        self.state = Mutex(State(inventory: ClusterInventory(settings: settings)))
        self.trustRoots =
            settings.controlPlaneNamespace.isEmpty
            ? nil
            : TrustRootsWatch(
                client: client, namespace: settings.controlPlaneNamespace, reflectorSettings: reflectorSettings,
                logger: logger)
    }

    /// The mesh's trust anchors as last read.
    public var trustAnchors: TrustAnchorsReading { trustRoots?.current ?? .unknown }

    /// What `/readyz` answers: ready once pods are listed, every other required resource is
    /// settled and the agent is not shutting down, naming what it cannot watch (forbidden,
    /// unauthorized); otherwise why not.
    public var readiness: Readiness {
        if let reason = notReadyReason { return .notReady(reason) }
        return state.withLock { state in
            .ready(
                unwatched: state.watches.keys.sorted().compactMap { resource in
                    let watch = state.watches[resource]!
                    guard watch.state == .forbidden || watch.state == .unauthorized else { return nil }
                    return "\(resource) (\(watch.state.rawValue))"
                })
        }
    }

    /// Why the agent is not ready (for `/readyz`), or nil when it is: pods are listed, every
    /// other required resource is settled, and it is not shutting down.
    public var notReadyReason: String? {
        state.withLock { state in
            if state.stopping { return "shutting down" }
            if state.watches.isEmpty { return "discovering which resources the API serves" }
            if let pods = state.watches["pods"], pods.state != .synced && pods.state != .starting {
                let scraping =
                    state.inventory.listedResources.contains("pods")
                    ? "scraping goes on from the last list" : "nothing can be scraped"
                return "pods: \(pods.state.rawValue) (\(pods.message ?? "")): \(scraping)"
            }
            let waiting = state.required.union(["pods"]).filter { !(state.watches[$0]?.state.isSettled ?? false) }
                .sorted()
            guard !waiting.isEmpty else { return nil }
            let named = waiting.map { resource -> String in
                guard let watch = state.watches[resource], watch.state == .failing else { return resource }
                return "\(resource) (failing: \(watch.message ?? ""))"
            }
            return "waiting for the first full list of " + named.joined(separator: ", ")
        }
    }

    /// Each resource's watch state, for the batches' health.
    public func watchStates() -> [(resource: String, state: ResourceWatchState, message: String?)] {
        state.withLock { state in
            state.watches.keys.sorted().map { ($0, state.watches[$0]!.state, state.watches[$0]!.message) }
        }
    }

    /// Records a resource's watch state, and tells the inventory whether the resource can be
    /// read (a forbidden one's objects go stale: no rollout is derived from them).
    private func record(_ resource: String, _ watchState: ResourceWatchState, _ message: String?) {
        let time = now()
        let available = ![.forbidden, .unauthorized, .notInstalled].contains(watchState)
        let events = state.withLock { state in
            state.watches[resource] = (watchState, message)
            let events = state.inventory.setAvailable(resource, available, at: time)
            state.rolloutEvents += events
            return events
        }
        observer.watchStateChanged(resource: resource, to: watchState)
        log(events)
    }

    /// Counts and logs rollout transitions.
    private func log(_ events: [RolloutEvent]) {
        for event in events {
            observer.rolloutTransition(event.kind)
            logger.info(
                "rollout",
                metadata: [
                    "k8s.workload": "\(event.workload)", "rollout.phase": "\(event.kind.rawValue)",
                    "rollout.from": "\(event.fromRevision ?? "")", "rollout.to": "\(event.toRevision)",
                ])
        }
    }

    /// Marks the start of the shutdown: readiness goes, so the pod leaves its Service's endpoints.
    public func stop() {
        state.withLock { $0.stopping = true }
    }

    /// Rollout transitions since the last call, oldest first.
    public func takeRolloutEvents() -> [RolloutEvent] {
        state.withLock { state in
            defer { state.rolloutEvents = [] }
            return state.rolloutEvents
        }
    }

    /// Applies a new namespace filter (a configuration reload); the targets are published again.
    public func update(namespaces: NamespaceFilter) {
        state.withLock { state in
            state.inventory.settings.namespaces = namespaces
            state.targetsChanged = true
        }
    }

    public func workloads() -> [WorkloadSummary] { state.withLock { $0.inventory.workloads() } }

    /// The inventory as batches carry it.
    public func inventorySnapshot() -> InventorySnapshot { state.withLock { $0.inventory.snapshot() } }

    /// The running meshed pods' proxies as the mesh's checks read them.
    public func meshedPodIdentities() -> [MeshedPodIdentity] { state.withLock { $0.inventory.meshedPodIdentities() } }

    /// The revision numbers of ReplicaSets, keyed as asked, for those the inventory holds: how a
    /// window's destinations, which the proxies name by ReplicaSet, get their revision numbers.
    public func replicaSetRevisions(_ sets: Set<ObjectKey>) -> [ObjectKey: String] {
        guard !sets.isEmpty else { return [:] }
        return state.withLock { state in
            var revisions: [ObjectKey: String] = [:]
            for set in sets {
                revisions[set] = state.inventory.revision(ofReplicaSet: set.name, namespace: set.namespace)
            }
            return revisions
        }
    }

    /// Whether the inventory can be reported: pods listed, and every other required resource
    /// listed or known unavailable (its state then says what is missing).
    /// In daemonset mode the pods must also be every node's: a new leader's first inventory
    /// waits for its cluster-wide pod list, rather than report its own node's as the cluster's.
    public var inventoryReady: Bool {
        state.withLock { $0.canPublish && (nodeName == nil || $0.everyNodesPodsListed) }
    }

    /// Records the version a proxy reports of itself (`namespace/pod`), from its page.
    public func recordProxyBuild(_ version: String, of proxy: String) {
        let parts = proxy.split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { return }
        let key = ObjectKey(namespace: String(parts[0]), name: String(parts[1]))
        state.withLock { $0.inventory.recordProxyBuild(version, of: key) }
    }

    public func scrapeCandidates() -> [ScrapeCandidate] { state.withLock { candidates(of: $0.inventory) } }

    /// The scrape targets: in daemonset mode only this node's pods, though the leader sees all.
    private func candidates(of inventory: ClusterInventory) -> [ScrapeCandidate] {
        let all = inventory.scrapeCandidates()
        guard let nodeName else { return all }
        return all.filter { $0.node == nodeName }
    }

    /// Runs the reflectors until cancelled, calling `publish` with the scrape candidates after the
    /// first full list and whenever they change (at most every `publishInterval` seconds).
    public func run(
        publishInterval: Double = 1, publish: @escaping @Sendable ([ScrapeCandidate]) async -> Void
    ) async throws {
        var watched: [WatchedResource] = []
        for row in WatchedResource.all {
            let resource = row.resource.plural
            switch row.requirement {
            case .required:
                watched.append(row)
                state.withLock { _ = $0.required.insert(resource) }
                record(resource, .starting, nil)
            case .whereInstalled:
                do {
                    if try await client.serves(row.resource) {
                        watched.append(row)
                        record(resource, .starting, nil)
                    } else {
                        record(resource, .notInstalled, nil)
                    }
                } catch {
                    // A start cut short (another service failed) is not a discovery failure.
                    if error is CancellationError || Task.isCancelled { throw CancellationError() }
                    let reason = (error as? KubernetesAPIError)?.reason ?? "transport"
                    record(resource, ResourceWatchState(failureReason: reason), "\(error)")
                    logger.warning(
                        "cannot tell whether a custom resource is installed; not watching it",
                        metadata: ["k8s.resource": "\(resource)", "error": "\(error)"])
                }
            }
        }
        try Task.checkCancellation()
        logger.info(
            "watching the cluster",
            metadata: [
                "k8s.resources": "\(watched.map(\.resource.plural).joined(separator: ","))",
                "k8s.node": "\(nodeName ?? "all")",
            ])

        try await withThrowingTaskGroup(of: Void.self) { group in
            if let trustRoots { group.addTask { try await trustRoots.run() } }
            for row in watched {
                if row.perNode, let nodeName {
                    group.addTask { try await self.followPerNode(row, node: nodeName) }
                } else {
                    let settings = reflectorSettings
                    group.addTask { try await self.follow(row.model, row, settings) }
                }
            }
            group.addTask {
                // Scrape targets are state: the newest set wins, so changes are coalesced.
                var published = false
                while true {
                    try await Task.sleep(for: .milliseconds(Int64(publishInterval * 1_000)))
                    let (candidates, counts) = self.state.withLock { state -> ([ScrapeCandidate]?, [String: Int]) in
                        guard state.canPublish, state.targetsChanged || !published else {
                            return (nil, state.inventory.objectCounts)
                        }
                        state.targetsChanged = false
                        return (self.candidates(of: state.inventory), state.inventory.objectCounts)
                    }
                    // The inventory gauges follow on the same tick, not on every watch event.
                    self.observer.inventoryCounted(counts)
                    if let candidates {
                        published = true
                        await publish(candidates)
                        self.observer.targetsPublished(candidates.count)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Follows a per-node resource: this node's objects, or every node's while this agent leads.
    /// A change of leadership (checked every second) ends the watch and starts the other.
    private func followPerNode(_ row: WatchedResource, node: String) async throws {
        while !Task.isCancelled {
            let leading = leads?() ?? false
            var selected = reflectorSettings
            if !leading { selected.selectors.field = "spec.nodeName=\(node)" }
            let settings = selected
            // The pods held from the watch with the other selector: the new list drops those it
            // does not find (other nodes' pods when the lead is lost, pods deleted meanwhile).
            let assumed = state.withLock { state in
                if row.resource == Pod.resource { state.everyNodesPodsListed = false }
                return row.resource == Pod.resource ? state.inventory.pods.mapValues(\.uid) : [:]
            }
            logger.info(
                "watching \(row.resource.plural) \(leading ? "of every node (leader)" : "of this node")",
                metadata: ["k8s.resource": "\(row.resource.plural)", "k8s.node": "\(node)"])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await self.follow(row.model, row, settings, assumed: assumed, everyNode: leading)
                }
                group.addTask { [leads] in
                    while (leads?() ?? false) == leading { try await Task.sleep(for: .seconds(1)) }
                }
                // The first to end: the watch (an error, or cancellation) or the leadership check.
                try await group.next()
                group.cancelAll()
            }
        }
    }

    private func follow<Object: KubernetesObject>(
        _ type: Object.Type, _ row: WatchedResource, _ settings: ReflectorSettings,
        assumed: [ObjectKey: String] = [:], everyNode: Bool = false
    ) async throws {
        let resource = Object.resource.plural
        // The event counter is looked up once per watch, not on every event.
        let countEvent = observer.watchEventCounter(resource: resource)
        let hooks = ReflectorHooks(
            event: countEvent,
            restart: { [observer] reason in observer.watchRestarted(resource: resource, reason: reason) },
            state: { [weak self] watchState, message in self?.record(resource, watchState, message) })
        let reflector = Reflector(
            Object.self, client: client, settings: settings, logger: logger, hooks: hooks, assumed: assumed)
        try await reflector.run { deltas, listed in
            let time = now()
            let events = state.withLock { state in
                let firstList = listed && !state.inventory.listedResources.contains(resource)
                let events = state.inventory.apply(deltas, at: time, listed: listed)
                if listed && everyNode { state.everyNodesPodsListed = true }
                if firstList { logger.info("first list complete", metadata: ["k8s.resource": "\(resource)"]) }
                if row.decidesTargets { state.targetsChanged = true }
                state.rolloutEvents += events
                return events
            }
            log(events)
        }
    }
}
