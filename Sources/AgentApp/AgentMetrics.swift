import HTTPServing
import KubernetesAPI
import KubernetesModels
import MeshHealth
import Prometheus
import PrometheusText
import ReportWindows
import Reporting
import RouteAggregation
import Scraping
import Synchronization

/// The agent's own metrics, served on `/metrics`. Labels are bounded (`result`, `reason`), never a
/// pod, route or authority, so the agent's own series count stays fixed however large the mesh.
public final class AgentMetrics: WindowObserver, Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let scrapeSuccesses: Counter
    private let scrapeFailures: [ScrapeFailure: Counter]
    private let scrapeDuration: DurationHistogram
    private let badLines: [String: Counter]
    private let seriesOverLimit: Counter
    let targets: Gauge
    private let aggregationSeries: Gauge
    private let foldedRoutes: Counter
    private let proxyRestarts: Counter
    private let seriesResets: Counter
    /// Last cumulative values taken from `RouteAggregator.Stats`, to add only the difference.
    private let aggregatorSeen = Mutex<RouteAggregator.Stats?>(nil)
    private let queueBatches: Gauge
    private let queueBytes: Gauge
    private let spoolBytes: Gauge
    private let batchesSent: Counter
    private let bytesSent: Counter
    private let uploadDuration: DurationHistogram
    /// Last cumulative values taken from `UploaderStats`, to add only the difference.
    private let uploaderSeen = Mutex(UploaderStats())
    private let pageBudget: Gauge
    private let pageBytesInFlight: Gauge
    private let highestPageBytesInFlight: Gauge
    private let proxyCertificates: [CertificateState: Gauge]
    private let earliestCertificateExpiry: Gauge
    /// Per check id and status: 1 for the status the check has, 0 for the others.
    private let meshChecks: [String: [CheckStatus: Gauge]]
    private let samplers = Mutex<[@Sendable () -> Void]>([])

    public init(version: String) {
        scrapeSuccesses = registry.makeCounter(
            descriptor: Self.descriptor("fathom_scrapes_total", "Proxy scrapes by result, and by reason for failures."),
            labels: [("result", "success")])
        // Every reason exists from the start, so rate() works before the first failure.
        var failures: [ScrapeFailure: Counter] = [:]
        for reason in ScrapeFailure.allCases {
            failures[reason] = registry.makeCounter(
                descriptor: Self.descriptor(
                    "fathom_scrapes_total", "Proxy scrapes by result, and by reason for failures."),
                labels: [("result", "failure"), ("reason", reason.rawValue)])
        }
        scrapeFailures = failures
        scrapeDuration = registry.makeDurationHistogram(
            descriptor: Self.descriptor("fathom_scrape_duration_seconds", "Time to fetch and decode one proxy page."),
            buckets: [
                .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            ])
        var badLineCounters: [String: Counter] = [:]
        for reason in ParseError.Reason.allCases {
            badLineCounters[reason.rawValue] = registry.makeCounter(
                descriptor: Self.descriptor(
                    "fathom_page_bad_lines_total",
                    "Lines of proxy pages that did not parse and were skipped, by reason."),
                labels: [("reason", reason.rawValue)])
        }
        badLines = badLineCounters
        seriesOverLimit = registry.makeCounter(
            descriptor: Self.descriptor(
                "fathom_series_over_limit_total", "New proxy series not tracked because of the per-proxy limit."))
        targets = Self.gauge(in: registry, "fathom_targets", "Meshed pods being scraped.")
        pageBudget = Self.gauge(
            in: registry, "fathom_scrape_page_budget_bytes",
            "Bytes the pages in flight may hold together (scrape.maxBytesInFlight).")
        pageBytesInFlight = Self.gauge(
            in: registry, "fathom_scrape_page_bytes_in_flight",
            "Bytes the pages in flight hold now, as received and inflated.")
        highestPageBytesInFlight = Self.gauge(
            in: registry, "fathom_scrape_page_bytes_in_flight_max",
            "The most bytes the pages in flight held at once so far.")
        aggregationSeries = Self.gauge(
            in: registry, "fathom_aggregation_series", "Workload route series held in memory.")
        foldedRoutes = registry.makeCounter(
            descriptor: Self.descriptor(
                "fathom_aggregation_folded_routes_total", "Route mappings folded into overflow series."))
        proxyRestarts = registry.makeCounter(
            descriptor: Self.descriptor("fathom_proxy_restarts_total", "Proxy restarts detected."))
        // Every state from the start, so an alert on refresh_failing > 0 has a series to read.
        var certificateGauges: [CertificateState: Gauge] = [:]
        for state in CertificateState.allCases {
            certificateGauges[state] = registry.makeGauge(
                descriptor: Self.descriptor(
                    "fathom_mesh_proxy_certificates",
                    "Scraped proxies by the state of their identity certificate (valid, refresh_failing, expired, "
                        + "unreported), as the last window closed."),
                labels: [("state", state.rawValue)])
        }
        proxyCertificates = certificateGauges
        earliestCertificateExpiry = Self.gauge(
            in: registry, "fathom_mesh_proxy_certificate_expiry_earliest_timestamp_seconds",
            "The earliest NotAfter (Unix seconds) among the scraped proxies' identity certificates; NaN without.")
        earliestCertificateExpiry.set(to: .nan)
        // Every check and status from the start (all 0 until a check is made, as on a follower
        // for the checks only the leader makes), as kube-state-metrics gives each state a series.
        var checkGauges: [String: [CheckStatus: Gauge]] = [:]
        for id in MeshChecks.ids {
            for status in CheckStatus.allCases {
                checkGauges[id, default: [:]][status] = registry.makeGauge(
                    descriptor: Self.descriptor(
                        "fathom_mesh_check",
                        "The mesh's health checks as the last window closed: 1 for the status (ok, warning, error) "
                            + "each check has, 0 for the others; all 0 for a check this agent does not make."),
                    labels: [("check", id), ("status", status.rawValue)])
            }
        }
        meshChecks = checkGauges
        seriesResets = registry.makeCounter(
            descriptor: Self.descriptor(
                "fathom_proxy_series_resets_total",
                "Proxy series seen lower than before (each counted as a reset, as Prometheus's rate() does)."))
        queueBatches = Self.gauge(
            in: registry, "fathom_report_queue_batches", "Batches waiting for upload, in memory or only in the spool.")
        queueBytes = Self.gauge(
            in: registry, "fathom_report_queue_bytes", "Compressed bytes waiting for upload in memory.")
        spoolBytes = Self.gauge(
            in: registry, "fathom_report_spool_bytes",
            "Compressed bytes of the batches in the spool (bounded by spool.maxBytes).")
        batchesSent = registry.makeCounter(
            descriptor: Self.descriptor("fathom_report_batches_sent_total", "Batches the collector acknowledged."))
        bytesSent = registry.makeCounter(
            descriptor: Self.descriptor("fathom_report_bytes_sent_total", "Compressed bytes of acknowledged batches."))
        uploadDuration = registry.makeDurationHistogram(
            descriptor: Self.descriptor(
                "fathom_report_upload_duration_seconds", "Time of each acknowledged upload, request to response."),
            buckets: [
                .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
            ])
        registry.makeGauge(
            descriptor: Self.descriptor("fathom_build_info", "The agent's version."), labels: [("version", version)]
        )
        .set(to: 1.0)
        // Every reason from the start, so a rule on increase() sees the first retry or drop.
        for reason in RetryPolicy.retryReasons {
            raise("fathom_report_retries_total", Self.retriesHelp, labels: [("reason", reason)], from: 0, to: 0)
        }
        for reason in RetryPolicy.dropReasons {
            raise("fathom_report_batches_dropped_total", Self.droppedHelp, labels: [("reason", reason)], from: 0, to: 0)
        }
        for credential in Self.credentials {
            _ = credentialReloads(credential, "used")
            _ = credentialReloads(credential, "unusable")
        }
        // Counters with a bounded label at 0 from the start, so that increase() sees their
        // first event (a series that appears at 1 has no increase).
        for result in ["success", "failure"] { _ = configReloads(result) }
        for what in Self.encodedThings { _ = encodeFailures(what) }
        for refusal in SimpleHTTPServer.Refusal.allCases { _ = adminRefusals(refusal.rawValue) }
        // One series per watched resource from the start, so a resource that never lists shows
        // as 0 rather than missing.
        for row in WatchedResource.all {
            _ = watchEventCounters(resource: row.resource.plural)
            inventoryGauge(row.resource.plural).set(Int64(0))
            watchStateChanged(resource: row.resource.plural, to: .starting)
        }
    }

    /// An unlabelled gauge.
    static func gauge(in registry: PrometheusCollectorRegistry, _ name: String, _ help: String) -> Gauge {
        registry.makeGauge(descriptor: descriptor(name, help))
    }

    /// A metric's full name and help; the unit is part of the name already (`_total`, `_seconds`).
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    static var watchEvents: MetricNameDescriptor {
        descriptor("fathom_kubernetes_watch_events_total", "Kubernetes watch events received, by resource and type.")
    }

    /// Counts one scrape event.
    public func record(_ event: ScrapeEvent) {
        switch event {
        case .scraped(_, let snapshot, let seconds, _):
            scrapeSuccesses.increment()
            scrapeDuration.recordNanoseconds(Int64(seconds * 1e9))
            for (reason, count) in snapshot.stats.badLinesByReason {
                badLines[reason]?.increment(by: Int64(count))
            }
            if snapshot.stats.seriesOverLimit > 0 {
                seriesOverLimit.increment(by: Int64(snapshot.stats.seriesOverLimit))
            }
        case .failed(_, let reason, _):
            scrapeFailures[reason]?.increment()
        case .removed:
            break
        }
    }

    /// Sets the aggregation gauge and brings its counters up to the aggregator's totals.
    public func record(aggregator: RouteAggregator) {
        aggregationSeries.set(Int64(aggregator.seriesCount))
        let stats = aggregator.stats
        let previous = aggregatorSeen.withLock { seen in
            defer { seen = stats }
            return seen
        }
        for (counter, now, before) in [
            (foldedRoutes, stats.foldedRoutes, previous?.foldedRoutes ?? 0),
            (proxyRestarts, stats.proxyRestarts, previous?.proxyRestarts ?? 0),
            (seriesResets, stats.counterResets, previous?.counterResets ?? 0),
        ] where now > before {
            counter.increment(by: Int64(now - before))
        }
    }

    /// Brings the report metrics up to the uploader's cumulative statistics.
    public func record(_ stats: UploaderStats) {
        let previous = uploaderSeen.withLock { seen in
            defer { seen = stats }
            return seen
        }
        queueBatches.set(Int64(stats.queuedBatches))
        queueBytes.set(Int64(stats.queuedBytes))
        spoolBytes.set(Int64(stats.spooledBytes))
        if stats.batchesSent > previous.batchesSent {
            let new = stats.batchesSent - previous.batchesSent
            batchesSent.increment(by: Int64(new))
            // The uploader keeps the most recent durations; those of the new uploads are last.
            for seconds in stats.recentUploadSeconds.suffix(new) {
                uploadDuration.recordNanoseconds(Int64(seconds * 1e9))
            }
        }
        if stats.bytesSent > previous.bytesSent { bytesSent.increment(by: Int64(stats.bytesSent - previous.bytesSent)) }
        for (reason, count) in stats.retries {
            raise(
                "fathom_report_retries_total", Self.retriesHelp, labels: [("reason", reason)],
                from: previous.retries[reason, default: 0], to: count)
        }
        raise(
            "fathom_report_batches_split_total",
            "Batches (or parts) the collector refused as too large (413), sent again as two parts.",
            from: previous.batchesSplit, to: stats.batchesSplit)
        raise(
            "fathom_report_spool_write_failures_total",
            "Batches that could not be written to the spool and are kept in memory only.",
            from: previous.spoolWriteFailures, to: stats.spoolWriteFailures)
        raise(
            "fathom_report_spool_resumed_batches_total",
            "Batches an earlier run left in the spool, found at start and queued to be sent.",
            from: previous.resumedBatches, to: stats.resumedBatches)
        for (reason, count) in stats.dropped {
            raise(
                "fathom_report_batches_dropped_total", Self.droppedHelp, labels: [("reason", reason)],
                from: previous.dropped[reason, default: 0], to: count)
        }
    }

    static let retriesHelp = "Upload attempts retried, by reason."
    static let droppedHelp = "Batches given up, by reason."

    /// Raises a counter by what a cumulative count of the uploader's grew since the last record
    /// (from 0 to 0 creates it at 0).
    private func raise(
        _ name: String, _ help: String, labels: [(String, String)] = [], from before: Int, to now: Int
    ) {
        let counter = registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
        if now > before { counter.increment(by: Int64(now - before)) }
    }

    public func record(certificates: ProxyCertificates.Summary) {
        for (state, gauge) in proxyCertificates { gauge.set(to: Double(certificates.proxies[state] ?? 0)) }
        earliestCertificateExpiry.set(to: certificates.earliestExpiry ?? .nan)
    }

    public func record(checks: [MeshCheck]) {
        let made = Dictionary(checks.map { ($0.id, $0.status) }) { first, _ in first }
        for (id, gauges) in meshChecks {
            for (status, gauge) in gauges { gauge.set(to: made[id] == status ? 1 : 0) }
        }
    }

    /// Counts a failure to encode what the agent reports (`batch`, `debug_routes`).

    public func encodeFailed(_ what: String) {
        encodeFailures(what).increment()
    }

    /// What the agent encodes (the `what` label of `fathom_encode_failures_total`).
    static let encodedThings = ["batch", "debug_routes", "debug_mesh"]

    private func encodeFailures(_ what: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.descriptor(
                "fathom_encode_failures_total",
                "Report batches, /debug/routes or /debug/mesh answers that could not be encoded."),
            labels: [("what", what)])
    }

    /// Counts a client the admin server cut off, by `SimpleHTTPServer.Refusal`.
    public func recordAdminRefusal(_ reason: String) {
        adminRefusals(reason).increment()
    }

    private func adminRefusals(_ reason: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.descriptor(
                "fathom_admin_requests_refused_total",
                "Clients the admin server cut off: too many connections, a head or body over its limit, "
                    + "a malformed request, or a request not complete in time."),
            labels: [("reason", reason)])
    }

    /// The credential files the agent reads again when they change (a bounded label).
    public static let credentials = [
        "collector_token", "collector_ca", "kubernetes_token", "kubernetes_ca", "kubernetes_client_certificate",
        "kubernetes_client_key",
    ]

    /// Counts a credential file that changed, by `credential` and `result`: `used` from the next
    /// request on, or `unusable` (the last good one stays).
    public func recordCredentialReload(_ credential: String, usable: Bool) {
        credentialReloads(credential, usable ? "used" : "unusable").increment()
    }

    private func credentialReloads(_ credential: String, _ result: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.descriptor(
                "fathom_credential_reloads_total",
                "Credential files (tokens, CA bundles, client certificates) read again after they changed, by "
                    + "credential and result (used, or unusable and the last good one kept)."),
            labels: [("credential", credential), ("result", result)])
    }

    /// Counts a configuration reload by result (`success`, `failure`).
    public func recordConfigReload(_ result: String) {
        configReloads(result).increment()
    }

    private func configReloads(_ result: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.descriptor(
                "fathom_config_reloads_total",
                "Reloads of the mounted configuration file, by result (a failure keeps the running configuration)."),
            labels: [("result", result)])
    }

    /// Sets the page-budget gauges: the budget, what the pages in flight hold now, and the most
    /// they held at once since the start.
    public func recordPageBytes(budget: Int, inFlight: Int, highest: Int) {
        pageBudget.set(Int64(budget))
        pageBytesInFlight.set(Int64(inFlight))
        highestPageBytesInFlight.set(Int64(highest))
    }

    /// Makes `sample` run before each exposition, for gauges read from their source at that time.
    public func sampleBeforeExposition(_ sample: @escaping @Sendable () -> Void) {
        samplers.withLock { $0.append(sample) }
    }

    /// The metrics in Prometheus text format.
    public func exposition() -> [UInt8] {
        for sample in samplers.withLock({ $0 }) { sample() }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
