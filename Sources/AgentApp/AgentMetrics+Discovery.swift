import ClusterDiscovery
import Inventory
import KubernetesAPI
import KubernetesModels
import Prometheus

/// Discovery's own metrics: watch events, restarts and states, the inventory's object counts,
/// rollout transitions and the number of scrape targets.
extension AgentMetrics: DiscoveryObserver {
    public func watchEventCounter(resource: String) -> @Sendable (String) -> Void {
        let counters = watchEventCounters(resource: resource)
        return { [registry] type in
            if let counter = counters[type] {
                counter.increment()
            } else {
                registry.makeCounter(descriptor: Self.watchEvents, labels: [("resource", resource), ("type", type)])
                    .increment()
            }
        }
    }

    /// The watch event counters of a resource for the event types Kubernetes sends.
    func watchEventCounters(resource: String) -> [String: Counter] {
        Dictionary(
            uniqueKeysWithValues: ReflectorHooks.eventTypes.map { type in
                (
                    type,
                    registry.makeCounter(
                        descriptor: Self.watchEvents, labels: [("resource", resource), ("type", type)])
                )
            })
    }

    public func watchRestarted(resource: String, reason: String) {
        registry.makeCounter(
            descriptor: Self.descriptor(
                "fathom_kubernetes_watch_restarts_total",
                "Kubernetes watches restarted, by resource and reason (timeout is the normal renewal)."),
            labels: [("resource", resource), ("reason", reason)]
        ).increment()
    }

    public func inventoryCounted(_ counts: [String: Int]) {
        for (resource, count) in counts { inventoryGauge(resource).set(Int64(count)) }
    }

    func inventoryGauge(_ resource: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.descriptor(
                "fathom_inventory_objects", "Kubernetes objects held in the inventory, by resource."),
            labels: [("resource", resource)])
    }

    /// 1 for the current state, 0 for the others, as kube-state-metrics does for phases.
    public func watchStateChanged(resource: String, to state: ResourceWatchState) {
        for candidate in ResourceWatchState.allCases {
            registry.makeGauge(
                descriptor: Self.descriptor(
                    "fathom_kubernetes_resource_state",
                    "Whether the agent sees each watched resource: 1 for its current state (starting, synced, "
                        + "forbidden, unauthorized, not_installed, failing)."),
                labels: [("resource", resource), ("state", candidate.rawValue)]
            ).set(Int64(candidate == state ? 1 : 0))
        }
    }

    public func rolloutTransition(_ phase: RolloutEvent.Kind) {
        registry.makeCounter(
            descriptor: Self.descriptor("fathom_rollout_events_total", "Rollout transitions seen, by phase."),
            labels: [("phase", phase.rawValue)]
        ).increment()
    }

    /// The number of meshed pods being scraped.
    public func targetsPublished(_ count: Int) {
        targets.set(Int64(count))
    }
}
