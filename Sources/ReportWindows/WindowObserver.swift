import MeshHealth
import RouteAggregation
import Scraping

/// What the windows tell about themselves: the agent's own metrics implement it.
public protocol WindowObserver: Sendable {
    /// One scrape loop's event (a page, a failure, a target gone).
    func record(_ event: ScrapeEvent)
    /// The aggregator as a window closed (series held, routes folded, restarts, resets).
    func record(aggregator: RouteAggregator)
    /// The scraped proxies' identity certificates as a window closed.
    func record(certificates: ProxyCertificates.Summary)
    /// The mesh's health checks as a window closed.
    func record(checks: [MeshCheck])
    /// What could not be encoded (`batch`); its window is lost.
    func encodeFailed(_ what: String)
}
