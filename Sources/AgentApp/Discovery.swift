import FathomModel
import Inventory
import KubernetesAPI
import KubernetesModels
import Logging
import Synchronization

/// The agent's view of the cluster: one reflector per row of `WatchedResource.all` feeding one
/// `ClusterInventory`, the meshed pods handed to the scraper as they change, rollout events kept
/// for the next batch.
///
/// Ready (for `/readyz`) once every reflector has completed its first list. In daemonset mode
/// (`nodeName`) the per-node resources (pods) are watched with a field selector, so each agent
/// sees only its node's pods.
public final class Discovery: Sendable {
    struct State: Sendable {
        var inventory: ClusterInventory
        var rolloutEvents: [RolloutEvent] = []
        var expected: Set<String> = []
        var listed: Set<String> = []
        var targetsChanged = false
        var stopping = false
    }

    private let client: KubernetesClient
    private let nodeName: String?
    private let reflectorSettings: ReflectorSettings
    private let logger: Logger
    private let metrics: AgentMetrics?
    private let now: @Sendable () -> Double
    private let state: Mutex<State>

    public init(
        client: KubernetesClient, settings: InventorySettings, nodeName: String? = nil,
        reflectorSettings: ReflectorSettings = ReflectorSettings(), logger: Logger, metrics: AgentMetrics? = nil,
        now: @escaping @Sendable () -> Double
    ) {
        self.client = client
        self.nodeName = nodeName.flatMap { $0.isEmpty ? nil : $0 }
        self.reflectorSettings = reflectorSettings
        self.logger = logger
        self.metrics = metrics
        self.now = now
        self.state = Mutex(State(inventory: ClusterInventory(settings: settings)))
    }

    /// Every reflector has listed once.
    public var isSynced: Bool { state.withLock { !$0.expected.isEmpty && $0.expected.isSubset(of: $0.listed) } }

    /// Why the agent is not ready (for `/readyz`), or nil when it is: every reflector has listed
    /// once and it is not shutting down.
    public var notReadyReason: String? {
        state.withLock { state in
            if state.stopping { return "shutting down" }
            if state.expected.isEmpty { return "discovering which resources the API serves" }
            let waiting = state.expected.subtracting(state.listed).sorted()
            return waiting.isEmpty ? nil : "waiting for the first full list of \(waiting.joined(separator: ", "))"
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

    public func scrapeCandidates() -> [ScrapeCandidate] { state.withLock { $0.inventory.scrapeCandidates() } }

    /// Runs the reflectors until cancelled, calling `publish` with the scrape candidates after the
    /// first full list and whenever they change (at most every `publishInterval` seconds).
    public func run(
        publishInterval: Double = 1, publish: @escaping @Sendable ([ScrapeCandidate]) async -> Void
    ) async throws {
        var watched: [WatchedResource] = []
        for row in WatchedResource.all {
            switch row.requirement {
            case .required:
                watched.append(row)
            case .whereInstalled:
                do {
                    if try await client.serves(row.resource) { watched.append(row) }
                } catch {
                    logger.warning(
                        "cannot tell whether a custom resource is installed; not watching it",
                        metadata: ["k8s.resource": "\(row.resource.plural)", "error": "\(error)"])
                }
            }
        }
        state.withLock { $0.expected = Set(watched.map(\.resource.plural)) }
        logger.info(
            "watching the cluster",
            metadata: [
                "k8s.resources": "\(watched.map(\.resource.plural).joined(separator: ","))",
                "k8s.node": "\(nodeName ?? "all")",
            ])

        try await withThrowingTaskGroup(of: Void.self) { group in
            for row in watched {
                var settings = reflectorSettings
                if row.perNode, let nodeName { settings.selectors.field = "spec.nodeName=\(nodeName)" }
                group.addTask { try await self.follow(row.model, row, settings) }
            }
            group.addTask {
                // Scrape targets are state: the newest set wins, so changes are coalesced.
                var published = false
                while true {
                    try await Task.sleep(for: .milliseconds(Int64(publishInterval * 1_000)))
                    let (candidates, counts) = self.state.withLock { state -> ([ScrapeCandidate]?, [String: Int]) in
                        let synced = state.expected.isSubset(of: state.listed)
                        guard synced, state.targetsChanged || !published else {
                            return (nil, state.inventory.objectCounts)
                        }
                        state.targetsChanged = false
                        return (state.inventory.scrapeCandidates(), state.inventory.objectCounts)
                    }
                    // The inventory gauges follow on the same tick, not on every watch event.
                    self.metrics?.recordInventory(counts)
                    if let candidates {
                        published = true
                        await publish(candidates)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private func follow<Object: KubernetesObject>(
        _ type: Object.Type, _ row: WatchedResource, _ settings: ReflectorSettings
    ) async throws {
        let resource = Object.resource.plural
        // The counters of the usual event types are looked up once, not on every event.
        let counters = metrics?.watchEventCounters(resource: resource) ?? [:]
        let hooks = ReflectorHooks(
            event: { [metrics] type in
                if let counter = counters[type] {
                    counter.increment()
                } else {
                    metrics?.recordWatchEvent(resource: resource, type: type)
                }
            },
            restart: { [metrics] reason in metrics?.recordWatchRestart(resource: resource, reason: reason) })
        let reflector = Reflector(Object.self, client: client, settings: settings, logger: logger, hooks: hooks)
        try await reflector.run { deltas, listed in
            let time = now()
            let events = state.withLock { state in
                let events = state.inventory.apply(deltas, at: time, listed: listed)
                if listed && !state.listed.contains(resource) {
                    state.listed.insert(resource)
                    logger.info("first list complete", metadata: ["k8s.resource": "\(resource)"])
                }
                if row.decidesTargets { state.targetsChanged = true }
                state.rolloutEvents += events
                return events
            }
            for event in events {
                metrics?.recordRolloutEvent(event.kind.rawValue)
                logger.info(
                    "rollout",
                    metadata: [
                        "k8s.workload": "\(event.workload)", "rollout.phase": "\(event.kind.rawValue)",
                        "rollout.from": "\(event.fromRevision ?? "")", "rollout.to": "\(event.toRevision)",
                    ])
            }
        }
    }
}
