import FathomModel
import Logging
import MeshHealth
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
    /// The mesh's health checks as the last window closed (`/debug/mesh`).
    public let checks = Mutex<[MeshCheck]>([])

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
    /// Every scraped proxy's identity certificate, and those in trouble as last logged.
    private var certificates = ProxyCertificates()
    private var troubledCertificates: [ProxyID: CertificateState] = [:]
    /// Proxies whose last answer to a scrape was a 403 from their authorization policy.
    private var refusingProxies: Set<ProxyID> = []
    private let logger: Logger

    /// - Parameter buildSeen: told when a proxy reports a version of itself it had not before.
    public init(
        aggregator: RouteAggregator, observer: any WindowObserver, lastWindow: LastWindow,
        logger: Logger = Logger(label: "fathom.windows"),
        buildSeen: @escaping @Sendable (ProxyID, String) -> Void = { _, _ in }
    ) {
        self.aggregator = aggregator
        self.observer = observer
        self.lastWindow = lastWindow
        self.logger = logger
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
            certificates.observe(snapshot.certificate, of: target.proxy)
            refusingProxies.remove(target.proxy)
        case .failed(let target, let reason, _):
            targets.insert(target.proxy)
            windowTargets.insert(target.proxy)
            health.scrapeFailures[reason.rawValue, default: 0] += 1
            // Another failure (a timeout) says nothing about the policy: the last answer stands.
            if reason == .forbidden { refusingProxies.insert(target.proxy) }
        case .removed(let target, let time):
            targets.remove(target.proxy)
            builds[target.proxy] = nil
            aggregator.forgetProxy(target.proxy, at: time)
            certificates.forget(target.proxy)
            troubledCertificates[target.proxy] = nil
            refusingProxies.remove(target.proxy)
        }
    }

    /// What closing a window gives: the window, and the scrape health, page bytes, aggregation
    /// totals and the proxies' certificates since the previous one.
    struct Closed {
        var window: AggregationWindow
        var health: HealthSummary
        var pageBytes: Int
        var aggregation: RouteAggregator.Stats
        var certificates: ProxyCertificates.Summary
        /// The proxies (`namespace/name`) whose last answer to a scrape was a 403, sorted.
        var refusingProxies: [String]
    }

    /// Closes the window at `time`.
    func closeWindow(at time: Double) -> Closed {
        var summary = health
        summary.targets = max(targets.count, windowTargets.count)
        windowTargets = targets
        summary.foldedRoutes = aggregator.stats.foldedRoutes
        let window = aggregator.closeWindow(at: time)
        observer.record(aggregator: aggregator)
        let certificateSummary = certificates.summary(at: time)
        observer.record(certificates: certificateSummary)
        logCertificateChanges(certificateSummary.troubled)
        lastWindow.window.withLock { $0 = window }
        let result = Closed(
            window: window, health: summary, pageBytes: pageBytes, aggregation: aggregator.stats,
            certificates: certificateSummary, refusingProxies: refusingProxies.map(\.rawValue).sorted())
        health = HealthSummary()
        pageBytes = 0
        return result
    }

    /// Names each proxy whose certificate came into trouble, or left it, once per change.
    private func logCertificateChanges(_ troubled: [ProxyID: CertificateState]) {
        for (proxy, state) in troubled.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        where troubledCertificates[proxy] != state {
            let certificate = certificates.certificate(of: proxy)
            logger.warning(
                state == .expired
                    ? "Proxy's identity certificate has expired: it cannot make or take mTLS connections"
                    : "Proxy's identity certificate is not being renewed: its refreshes fail",
                metadata: [
                    "k8s.pod": "\(proxy)", "certificate.state": "\(state.rawValue)",
                    "certificate.expires_unix": "\(certificate?.expiresAt.map { Int($0) } ?? 0)",
                    "certificate.refreshes_failed": "\(certificate?.refreshesFailed.map { Int($0) } ?? 0)",
                ])
        }
        for proxy in troubledCertificates.keys.sorted(by: { $0.rawValue < $1.rawValue }) where troubled[proxy] == nil {
            logger.info("Proxy's identity certificate is renewed again", metadata: ["k8s.pod": "\(proxy)"])
        }
        troubledCertificates = troubled
    }
}
