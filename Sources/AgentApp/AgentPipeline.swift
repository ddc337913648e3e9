import FathomModel
import Reporting
import RouteAggregation
import Scraping
import Synchronization

/// The last closed window, which `/debug/routes` serves, and which proxies have answered.
final class LastWindow: Sendable {
    let window = Mutex<AggregationWindow?>(nil)
    /// Successful scrapes per proxy since the agent started.
    let scrapedProxies = Mutex<[ProxyID: Int]>([:])
}

/// The aggregation state, fed by the scrape loops and emptied into a window every report interval.
actor AgentPipeline {
    private var aggregator: RouteAggregator
    private let metrics: AgentMetrics
    private let lastWindow: LastWindow
    private var health = HealthSummary()
    private var pageBytes = 0
    private var targets: Set<ProxyID> = []
    /// Targets scraped during the current window, even if removed since (at shutdown, all are).
    private var windowTargets: Set<ProxyID> = []
    /// The version each proxy last reported of itself, and who hears of a change.
    private var builds: [ProxyID: String] = [:]
    private let buildSeen: @Sendable (ProxyID, String) -> Void

    init(
        aggregator: RouteAggregator, metrics: AgentMetrics, lastWindow: LastWindow,
        buildSeen: @escaping @Sendable (ProxyID, String) -> Void = { _, _ in }
    ) {
        self.aggregator = aggregator
        self.metrics = metrics
        self.lastWindow = lastWindow
        self.buildSeen = buildSeen
    }

    func handle(_ event: ScrapeEvent) {
        metrics.record(event)
        switch event {
        case .scraped(let target, let snapshot, _, let time):
            targets.insert(target.proxy)
            windowTargets.insert(target.proxy)
            lastWindow.scrapedProxies.withLock { $0[target.proxy, default: 0] += 1 }
            health.scrapesSucceeded += 1
            health.pageBadLines += snapshot.stats.badLines
            health.seriesOverLimit += snapshot.stats.seriesOverLimit
            pageBytes += snapshot.stats.bytes
            if let version = snapshot.build?.version, builds[target.proxy] != version {
                builds[target.proxy] = version
                buildSeen(target.proxy, version)
            }
            aggregator.ingest(snapshot, from: target.proxy, workload: target.workload, at: time)
        case .failed(let target, let reason, _):
            targets.insert(target.proxy)
            windowTargets.insert(target.proxy)
            health.scrapeFailures[reason.rawValue, default: 0] += 1
        case .removed(let target):
            targets.remove(target.proxy)
            builds[target.proxy] = nil
            aggregator.forgetProxy(target.proxy)
        }
    }

    /// Closes the window; returns it with the health and page volume since the previous one.
    func closeWindow(at time: Double) -> (AggregationWindow, HealthSummary, Int, RouteAggregator.Stats) {
        var summary = health
        summary.targets = max(targets.count, windowTargets.count)
        windowTargets = targets
        summary.foldedRoutes = aggregator.stats.foldedRoutes
        let window = aggregator.closeWindow(at: time)
        metrics.record(aggregator: aggregator)
        lastWindow.window.withLock { $0 = window }
        let result = (window, summary, pageBytes, aggregator.stats)
        health = HealthSummary()
        pageBytes = 0
        return result
    }
}
