import Inventory
import KubernetesModels

/// What discovery tells about itself as it runs: the agent's own metrics implement it.
/// Each call is cheap and synchronous; none may block.
public protocol DiscoveryObserver: Sendable {
    /// The function that counts one watch event of `resource` by its type (`added`,
    /// `modified`, ...); asked for once per watch, so the hot path looks nothing up.
    func watchEventCounter(resource: String) -> @Sendable (String) -> Void
    /// A watch of `resource` ended and starts again, for `reason` (`timeout`, `relist`, ...).
    func watchRestarted(resource: String, reason: String)
    /// The watch state of `resource` is now `state`.
    func watchStateChanged(resource: String, to state: ResourceWatchState)
    /// The inventory's object counts by resource, once per publishing tick.
    func inventoryCounted(_ counts: [String: Int])
    /// A rollout transition was derived.
    func rolloutTransition(_ phase: RolloutEvent.Kind)
    /// A new set of scrape targets went to the scraper.
    func targetsPublished(_ count: Int)
}

/// The observer of a discovery nobody watches (benchmarks, tools).
public struct UnobservedDiscovery: DiscoveryObserver {
    public init() {}
    public func watchEventCounter(resource: String) -> @Sendable (String) -> Void { { _ in } }
    public func watchRestarted(resource: String, reason: String) {}
    public func watchStateChanged(resource: String, to state: ResourceWatchState) {}
    public func inventoryCounted(_ counts: [String: Int]) {}
    public func rolloutTransition(_ phase: RolloutEvent.Kind) {}
    public func targetsPublished(_ count: Int) {}
}
