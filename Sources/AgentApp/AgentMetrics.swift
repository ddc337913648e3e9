import Prometheus
import Reporting
import RouteAggregation
import Scraping
import Synchronization

/// The agent's own metrics, served on `/metrics`. Labels are bounded (`result`, `reason`), never a
/// pod, route or authority, so the agent's own series count stays fixed however large the mesh.
public final class AgentMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let scrapeSuccesses: Counter
    private let scrapeFailures: [ScrapeFailure: Counter]
    private let scrapeDuration: DurationHistogram
    private let badLines: Counter
    private let seriesOverLimit: Counter
    private let targets: Gauge
    private let aggregationSeries: Gauge
    private let foldedRoutes: Gauge
    private let proxyRestarts: Gauge
    private let queueBatches: Gauge
    private let queueBytes: Gauge
    private let batchesSent: Counter
    private let bytesSent: Counter
    private let uploadDuration: DurationHistogram
    /// Last cumulative values taken from `UploaderStats`, to add only the difference.
    private let uploaderSeen = Mutex(UploaderStats())

    public init(version: String) {
        scrapeSuccesses = registry.makeCounter(
            name: "fathom_scrapes_total", labels: [("result", "success")],
            help: "Proxy scrapes by result, and by reason for failures.")
        // Every reason exists from the start, so rate() works before the first failure.
        var failures: [ScrapeFailure: Counter] = [:]
        for reason in ScrapeFailure.allCases {
            failures[reason] = registry.makeCounter(
                name: "fathom_scrapes_total", labels: [("result", "failure"), ("reason", reason.rawValue)],
                help: "Proxy scrapes by result, and by reason for failures.")
        }
        scrapeFailures = failures
        scrapeDuration = registry.makeDurationHistogram(
            name: "fathom_scrape_duration_seconds",
            buckets: [
                .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            ],
            help: "Time to fetch and decode one proxy page.")
        badLines = registry.makeCounter(
            name: "fathom_page_bad_lines_total", help: "Lines of proxy pages that did not parse and were skipped.")
        seriesOverLimit = registry.makeCounter(
            name: "fathom_series_over_limit_total", help: "New proxy series not tracked because of the per-proxy limit."
        )
        targets = registry.makeGauge(name: "fathom_targets", help: "Meshed pods being scraped.")
        aggregationSeries = registry.makeGauge(
            name: "fathom_aggregation_series", help: "Workload route series held in memory.")
        foldedRoutes = registry.makeGauge(
            name: "fathom_aggregation_folded_routes", help: "Route mappings folded into overflow series so far.")
        proxyRestarts = registry.makeGauge(name: "fathom_proxy_restarts_seen", help: "Proxy restarts detected so far.")
        queueBatches = registry.makeGauge(name: "fathom_report_queue_batches", help: "Batches waiting for upload.")
        queueBytes = registry.makeGauge(name: "fathom_report_queue_bytes", help: "Compressed bytes waiting for upload.")
        batchesSent = registry.makeCounter(
            name: "fathom_report_batches_sent_total", help: "Batches the collector acknowledged.")
        bytesSent = registry.makeCounter(
            name: "fathom_report_bytes_sent_total", help: "Compressed bytes of acknowledged batches.")
        uploadDuration = registry.makeDurationHistogram(
            name: "fathom_report_upload_duration_seconds",
            buckets: [
                .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
            ],
            help: "Time of each acknowledged upload, request to response.")
        registry.makeGauge(name: "fathom_build_info", labels: [("version", version)], help: "The agent's version.")
            .set(to: 1.0)
    }

    /// Counts one scrape event.
    public func record(_ event: ScrapeEvent) {
        switch event {
        case .scraped(_, let snapshot, let seconds):
            scrapeSuccesses.increment()
            scrapeDuration.recordNanoseconds(Int64(seconds * 1e9))
            if snapshot.stats.badLines > 0 { badLines.increment(by: Int64(snapshot.stats.badLines)) }
            if snapshot.stats.seriesOverLimit > 0 {
                seriesOverLimit.increment(by: Int64(snapshot.stats.seriesOverLimit))
            }
        case .failed(_, let reason, _):
            scrapeFailures[reason]?.increment()
        case .removed:
            break
        }
    }

    /// Sets the aggregation gauges.
    public func record(targets count: Int, aggregator: RouteAggregator) {
        targets.set(Int64(count))
        aggregationSeries.set(Int64(aggregator.seriesCount))
        foldedRoutes.set(Int64(aggregator.stats.foldedRoutes))
        proxyRestarts.set(Int64(aggregator.stats.proxyRestarts))
    }

    /// Brings the report metrics up to the uploader's cumulative statistics.
    public func record(_ stats: UploaderStats) {
        let previous = uploaderSeen.withLock { seen in
            defer { seen = stats }
            return seen
        }
        queueBatches.set(Int64(stats.queuedBatches))
        queueBytes.set(Int64(stats.queuedBytes))
        if stats.batchesSent > previous.batchesSent {
            let new = stats.batchesSent - previous.batchesSent
            batchesSent.increment(by: Int64(new))
            // The uploader keeps the most recent durations; those of the new uploads are last.
            for seconds in stats.recentUploadSeconds.suffix(new) {
                uploadDuration.recordNanoseconds(Int64(seconds * 1e9))
            }
        }
        if stats.bytesSent > previous.bytesSent { bytesSent.increment(by: Int64(stats.bytesSent - previous.bytesSent)) }
        for (reason, count) in stats.retries where count > previous.retries[reason, default: 0] {
            registry.makeCounter(
                name: "fathom_report_retries_total", labels: [("reason", reason)],
                help: "Upload attempts retried, by reason."
            ).increment(by: Int64(count - previous.retries[reason, default: 0]))
        }
        for (reason, count) in stats.dropped where count > previous.dropped[reason, default: 0] {
            registry.makeCounter(
                name: "fathom_report_batches_dropped_total", labels: [("reason", reason)],
                help: "Batches given up, by reason."
            ).increment(by: Int64(count - previous.dropped[reason, default: 0]))
        }
    }

    /// Counts one watch event of a resource (`added`, `modified`, `deleted`, `bookmark`, `error`).
    public func recordWatchEvent(resource: String, type: String) {
        registry.makeCounter(
            name: "fathom_kubernetes_watch_events_total", labels: [("resource", resource), ("type", type)],
            help: "Kubernetes watch events received, by resource and type."
        ).increment()
    }

    /// Counts a restarted watch of a resource by reason (`timeout`, `relist`, `transport`, ...).
    public func recordWatchRestart(resource: String, reason: String) {
        registry.makeCounter(
            name: "fathom_kubernetes_watch_restarts_total", labels: [("resource", resource), ("reason", reason)],
            help: "Kubernetes watches restarted, by resource and reason (timeout is the normal renewal)."
        ).increment()
    }

    /// Sets the inventory's object counts by resource.
    public func recordInventory(_ counts: [String: Int]) {
        for (resource, count) in counts {
            registry.makeGauge(
                name: "fathom_inventory_objects", labels: [("resource", resource)],
                help: "Kubernetes objects held in the inventory, by resource."
            ).set(Int64(count))
        }
    }

    /// Counts rollout events by phase.
    public func recordRolloutEvent(_ kind: String) {
        registry.makeCounter(
            name: "fathom_rollout_events_total", labels: [("phase", kind)], help: "Rollout transitions seen, by phase."
        ).increment()
    }

    /// Counts a configuration reload by result (`success`, `failure`).
    public func recordConfigReload(_ result: String) {
        registry.makeCounter(
            name: "fathom_config_reloads_total", labels: [("result", result)],
            help: "Reloads of the mounted configuration file, by result (a failure keeps the running configuration)."
        ).increment()
    }

    /// The metrics in Prometheus text format.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
