import AsyncHTTPClient
import FathomModel
import Foundation
import LocalServers
import Logging
import ProxySimulation
import ReportProtos
import Reporting
import RouteAggregation
import Scraping
import Synchronization

/// Settings of `fathom-agent demo`.
public struct DemoOptions: Sendable {
    /// How long to run, in seconds; 0 runs until interrupted.
    public var duration: Double = 60
    public var scrapeInterval: Double = 2
    public var windowLength: Double = 10
    /// When to restart one simulated proxy, in seconds from the start; negative for never.
    public var restartAfter: Double = 25
    public var seed: UInt64 = 42
    /// Port of the admin endpoints on 127.0.0.1; 0 picks a free one.
    public var adminPort = 0

    public init() {}
}

/// The demo: the agent's real pipeline against a simulated meshed cluster on loopback.
///
/// Six simulated linkerd-proxies (both metric generations, failing routes, one restart) are each
/// served over HTTP on their own port; the real scrape manager scrapes them; the real decoder and
/// aggregator turn pages into windows; every window becomes a real report batch (protobuf, gzip)
/// that the real uploader POSTs to a local collector, which decodes it and prints the per-route
/// table. Kubernetes discovery joins when the Kubernetes work lands; until then the targets are
/// the simulated pods.
public struct Demo: Sendable {
    public var options: DemoOptions
    public var output: @Sendable (String) -> Void

    public init(options: DemoOptions, output: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.output = output
    }

    /// Runs the demo; returns the windows the agent closed (each sent as one batch).
    @discardableResult
    public func run() async throws -> [AggregationWindow] {
        let output = self.output
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let start = now()
        var logger = Logger(label: "fathom.demo")
        logger.logLevel = .warning

        let collector = try await FakeCollector.start(onBatch: { output(Self.describe($0)) })
        let metrics = AgentMetrics(version: AgentVersion.current)
        let status = DemoStatus()
        let admin = try await AdminServer.start(
            host: "127.0.0.1", port: options.adminPort, metrics: metrics, ready: { status.ready.withLock { $0 } },
            lastWindow: { status.lastWindow.withLock { $0 } })
        let mesh = SimulatedMesh.demo(startedAt: start, seed: options.seed)
        let proxies = try await SimulatedProxyServers.start(mesh: mesh, now: now)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let pipeline = DemoPipeline(
            aggregator: RouteAggregator(startedAt: start), metrics: metrics, status: status,
            targetCount: mesh.proxies.count)
        var scrapeSettings = ScrapeSettings()
        scrapeSettings.interval = options.scrapeInterval
        scrapeSettings.timeout = min(5, options.scrapeInterval * 0.8)
        let scraper = ScrapeManager(
            settings: scrapeSettings, fetcher: PageFetcher(client: client), logger: logger,
            deliver: { await pipeline.handle($0) })
        await scraper.update(
            targets: mesh.proxies.indices.map { index in
                ScrapeTarget(
                    proxy: ProxyID(mesh.proxies[index].podName), workload: mesh.proxies[index].workload,
                    url: proxies.url(index))
            })

        let result: Result<[AggregationWindow], any Error>
        var delivered = false
        do {
            let uploader = try Uploader(
                configuration: UploaderConfiguration(endpoint: collector.url), client: client, logger: logger)
            output(
                "fathom demo: \(mesh.proxies.count) simulated linkerd-proxies in "
                    + "\(Set(mesh.proxies.map(\.workload)).count) workloads, each served on its own loopback port; "
                    + "scraping every \(RouteTable.formatted(options.scrapeInterval, decimals: 1)) s, a report batch "
                    + "every \(RouteTable.formatted(options.windowLength, decimals: 1)) s to a local collector at "
                    + collector.url
                    + "; the agent's own /metrics, /readyz and /debug/routes at http://127.0.0.1:\(admin.port)")
            result = await withTaskGroup(of: Void.self) { group -> Result<[AggregationWindow], any Error> in
                group.addTask { await scraper.run() }
                group.addTask { await uploader.run() }
                let windows: Result<[AggregationWindow], any Error>
                do {
                    windows = .success(
                        try await windowLoop(
                            start: start, now: now, pipeline: pipeline, uploader: uploader, proxies: proxies,
                            metrics: metrics))
                } catch {
                    windows = .failure(error)
                }
                await scraper.finish()
                group.cancelAll()
                return windows
            }
            delivered = await uploader.flush(within: 5)
        } catch {
            result = .failure(error)
        }
        if case .success = result, !delivered { output("some batches could not be delivered to the local collector") }
        try await client.shutdown()
        try await proxies.shutdown()
        try await collector.shutdown()
        try await admin.shutdown()
        return try result.get()
    }

    /// Closes a window every `windowLength` seconds and hands it to the uploader as a batch.
    private func windowLoop(
        start: Double, now: @Sendable () -> Double, pipeline: DemoPipeline, uploader: Uploader,
        proxies: SimulatedProxyServers, metrics: AgentMetrics
    ) async throws -> [AggregationWindow] {
        var builder = BatchBuilder(
            identity: AgentIdentity(
                agentID: "fathom-demo", instanceID: String(UInt32.random(in: 0...UInt32.max), radix: 16),
                clusterName: "demo", agentVersion: AgentVersion.current))
        var windows: [AggregationWindow] = []
        var nextWindow = start + options.windowLength
        var restarted = options.restartAfter < 0
        while options.duration <= 0 || nextWindow <= start + options.duration + 1e-9 {
            var wakeAt = nextWindow
            if !restarted { wakeAt = min(wakeAt, start + options.restartAfter) }
            let wait = wakeAt - now()
            if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1_000))) }
            if !restarted && now() >= start + options.restartAfter {
                restarted = true
                let pod = proxies.mesh.withLock { mesh in
                    mesh.proxies[0].restart(at: now())
                    return mesh.proxies[0].podName
                }
                output("» simulated restart of the linkerd-proxy in pod \(pod)")
            }
            guard now() >= nextWindow else { continue }
            nextWindow += options.windowLength
            var (window, health, pageBytes, stats) = await pipeline.closeWindow(at: now())
            health.queuedBatches = await uploader.currentStats.queuedBatches
            let batch = try builder.encode(window: window, health: health)
            await uploader.enqueue(batch)
            metrics.record(await uploader.currentStats)
            windows.append(window)
            output(
                "\nagent: window closed with \(window.routes.count) routes from "
                    + "\(RouteTable.formatted(Double(pageBytes) / 1_000, decimals: 0)) kB of pages; "
                    + "proxy restarts seen: \(stats.proxyRestarts), counter resets: \(stats.counterResets); "
                    + "batch \(batch.idempotencyKey) "
                    + "(\(batch.body.count) bytes gzip) queued")
        }
        return windows
    }

    /// What the local collector prints for a batch it received: the table from the decoded batch.
    static func describe(_ batch: Fathom_Agent_V1_ReportBatch) -> String {
        let window = AggregationWindow(batch)
        let health = batch.health
        let failures = health.scrapeFailures.map { "\($0.reason)=\($0.count)" }.joined(separator: ",")
        let header =
            "collector: batch \(batch.agent.instanceID)-\(batch.sequence) from cluster \(batch.agent.clusterName), "
            + "window of \(RouteTable.formatted(window.duration, decimals: 1)) s, \(window.routes.count) routes; "
            + "agent health: \(health.targets) targets, \(health.scrapesSucceeded) scrapes, "
            + "failures: \(failures.isEmpty ? "none" : failures), \(health.pageBadLines) bad lines"
        return header + "\n" + RouteTable.render(window.routes)
    }
}

/// What the admin endpoints read from the running demo.
final class DemoStatus: Sendable {
    /// True once every target has been scraped (the demo's stand-in for "every watcher listed once").
    let ready = Mutex(false)
    let lastWindow = Mutex<AggregationWindow?>(nil)
}

/// The demo's aggregation state, fed by the scrape loops.
actor DemoPipeline {
    private var aggregator: RouteAggregator
    private let metrics: AgentMetrics
    private let status: DemoStatus
    private let targetCount: Int
    private var health = HealthSummary()
    private var pageBytes = 0
    private var targets: Set<ProxyID> = []

    init(aggregator: RouteAggregator, metrics: AgentMetrics, status: DemoStatus, targetCount: Int) {
        self.aggregator = aggregator
        self.metrics = metrics
        self.status = status
        self.targetCount = targetCount
    }

    func handle(_ event: ScrapeEvent) {
        metrics.record(event)
        defer {
            if targets.count == targetCount { status.ready.withLock { $0 = true } }
        }
        switch event {
        case .scraped(let target, let snapshot, _):
            targets.insert(target.proxy)
            health.scrapesSucceeded += 1
            health.pageBadLines += snapshot.stats.badLines
            health.seriesOverLimit += snapshot.stats.seriesOverLimit
            pageBytes += snapshot.stats.bytes
            aggregator.ingest(snapshot, from: target.proxy, workload: target.workload)
        case .failed(let target, let reason, _):
            targets.insert(target.proxy)
            health.scrapeFailures[reason.rawValue, default: 0] += 1
        case .removed(let target):
            targets.remove(target.proxy)
            aggregator.forgetProxy(target.proxy)
        }
    }

    /// Closes the window; returns it with the health and page volume since the previous one.
    func closeWindow(at time: Double) -> (AggregationWindow, HealthSummary, Int, RouteAggregator.Stats) {
        var summary = health
        summary.targets = targets.count
        summary.foldedRoutes = aggregator.stats.foldedRoutes
        let window = aggregator.closeWindow(at: time)
        metrics.record(targets: targets.count, aggregator: aggregator)
        status.lastWindow.withLock { $0 = window }
        let result = (window, summary, pageBytes, aggregator.stats)
        health = HealthSummary()
        pageBytes = 0
        return result
    }
}
