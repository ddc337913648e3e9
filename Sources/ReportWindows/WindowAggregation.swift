import FathomModel
import ReportEncoding
import Reporting
import RouteAggregation
import Scraping
import Synchronization

/// The last closed window, which `/debug/routes` serves, and which proxies have answered.
public final class LastWindow: Sendable {
    public let window = Mutex<AggregationWindow?>(nil)
    /// Successful scrapes per proxy since the agent started.
    public let scrapedProxies = Mutex<[ProxyID: Int]>([:])

    public init() {}
}

/// The aggregation state, fed by the scrape loops and emptied into a window every report interval.
public actor WindowAggregation {
    private var aggregator: RouteAggregator
    private let observer: any WindowObserver
    private let lastWindow: LastWindow
    private var health = HealthSummary()
    private var pageBytes = 0
    private var targets: Set<ProxyID> = []
    /// Targets scraped during the current window, even if removed since (at shutdown, all are).
    private var windowTargets: Set<ProxyID> = []
    /// The revision of its workload each pod runs, as discovery last published it.
    private var revisions: [ProxyID: String] = [:]
    /// The version each proxy last reported of itself, and who hears of a change.
    private var builds: [ProxyID: String] = [:]
    private let buildSeen: @Sendable (ProxyID, String) -> Void

    /// - Parameter buildSeen: told when a proxy reports a version of itself it had not before.
    public init(
        aggregator: RouteAggregator, observer: any WindowObserver, lastWindow: LastWindow,
        buildSeen: @escaping @Sendable (ProxyID, String) -> Void = { _, _ in }
    ) {
        self.aggregator = aggregator
        self.observer = observer
        self.lastWindow = lastWindow
        self.buildSeen = buildSeen
    }

    /// The revision each scraped pod runs (`ScrapeCandidate.revision`), from the newest targets.
    public func updateRevisions(_ revisions: [ProxyID: String]) {
        self.revisions = revisions
    }

    /// Takes one scrape loop's event into the open window.
    public func handle(_ event: ScrapeEvent) {
        observer.record(event)
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
            aggregator.ingest(
                snapshot, from: target.proxy, workload: target.workload,
                revision: revisions[target.proxy] ?? "", at: time)
        case .failed(let target, let reason, _):
            targets.insert(target.proxy)
            windowTargets.insert(target.proxy)
            health.scrapeFailures[reason.rawValue, default: 0] += 1
        case .removed(let target, let time):
            targets.remove(target.proxy)
            builds[target.proxy] = nil
            aggregator.forgetProxy(target.proxy, at: time)
        }
    }

    /// Closes the window; returns it with the health and page volume since the previous one.
    func closeWindow(at time: Double) -> (AggregationWindow, HealthSummary, Int, RouteAggregator.Stats) {
        var summary = health
        summary.targets = max(targets.count, windowTargets.count)
        windowTargets = targets
        summary.foldedRoutes = aggregator.stats.foldedRoutes
        let window = aggregator.closeWindow(at: time)
        observer.record(aggregator: aggregator)
        lastWindow.window.withLock { $0 = window }
        let result = (window, summary, pageBytes, aggregator.stats)
        health = HealthSummary()
        pageBytes = 0
        return result
    }
}
