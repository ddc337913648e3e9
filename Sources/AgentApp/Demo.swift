import AsyncHTTPClient
import FathomModel
import LinkerdMetrics
import LocalServers
import Logging
import ProxySimulation
import ReportProtos
import Reporting
import RouteAggregation

/// Settings of `fathom-agent demo`.
public struct DemoOptions: Sendable {
    /// How long to run, in seconds; 0 runs until interrupted.
    public var duration: Double = 60
    public var scrapeInterval: Double = 2
    public var windowLength: Double = 10
    /// When to restart one simulated proxy, in seconds from the start; negative for never.
    public var restartAfter: Double = 25
    public var seed: UInt64 = 42

    public init() {}
}

/// The demo: a simulated meshed cluster whose proxies serve changing pages of both Linkerd metric
/// generations, read by the agent's real decoder and aggregator; every window becomes a real
/// report batch (protobuf, gzip) that the real uploader POSTs to a local collector on loopback,
/// which decodes it and prints the per-route table. Kubernetes discovery and HTTP scraping join
/// as they are built.
public struct Demo {
    public var options: DemoOptions
    /// Seconds since the epoch; injected so the demo loop can be tested without waiting.
    public var now: @Sendable () -> Double
    public var sleep: @Sendable (Double) async throws -> Void
    public var output: @Sendable (String) -> Void

    public init(
        options: DemoOptions, now: @escaping @Sendable () -> Double,
        sleep: @escaping @Sendable (Double) async throws -> Void, output: @escaping @Sendable (String) -> Void
    ) {
        self.options = options
        self.now = now
        self.sleep = sleep
        self.output = output
    }

    /// Runs the demo; returns the windows the agent closed (each sent as one batch).
    @discardableResult
    public func run() async throws -> [AggregationWindow] {
        let output = self.output
        let collector = try await FakeCollector.start(onBatch: { batch in
            output(Self.describe(batch))
        })
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var logger = Logger(label: "fathom.demo")
        logger.logLevel = .warning
        let uploader: Uploader
        do {
            uploader = try Uploader(
                configuration: UploaderConfiguration(endpoint: collector.url), client: client, logger: logger)
        } catch {
            try await client.shutdown()
            try await collector.shutdown()
            throw error
        }
        let uploading = Task { await uploader.run() }
        let result: Result<[AggregationWindow], any Error>
        do {
            result = .success(try await pipeline(uploader: uploader))
        } catch {
            result = .failure(error)
        }
        uploading.cancel()
        await uploading.value
        let delivered = await uploader.flush(within: 5)
        if !delivered { output("some batches could not be delivered to the local collector") }
        try await client.shutdown()
        try await collector.shutdown()
        return try result.get()
    }

    /// Scrape, decode, aggregate, and hand each closed window to the uploader.
    private func pipeline(uploader: Uploader) async throws -> [AggregationWindow] {
        let start = now()
        var mesh = SimulatedMesh.demo(startedAt: start, seed: options.seed)
        var decoders = mesh.proxies.map { _ in ProxyPageDecoder() }
        var aggregator = RouteAggregator(startedAt: start)
        var builder = BatchBuilder(
            identity: AgentIdentity(
                agentID: "fathom-demo", instanceID: String(UInt32.random(in: 0...UInt32.max), radix: 16),
                clusterName: "demo", agentVersion: AgentVersion.current))
        var windows: [AggregationWindow] = []
        var nextWindow = start + options.windowLength
        var restarted = options.restartAfter < 0
        var health = HealthSummary()
        var bytes = 0

        output(
            "fathom demo: \(mesh.proxies.count) simulated linkerd-proxies in \(Set(mesh.proxies.map(\.workload)).count) workloads; "
                + "scraping every \(RouteTable.formatted(options.scrapeInterval, decimals: 0)) s, "
                + "a report batch every \(RouteTable.formatted(options.windowLength, decimals: 0)) s to a local collector"
        )
        while options.duration <= 0 || now() - start < options.duration {
            try await sleep(options.scrapeInterval)
            let time = now()
            mesh.advance(to: time)
            for (index, proxy) in mesh.proxies.enumerated() {
                let page = Array(proxy.page().utf8)
                bytes += page.count
                let snapshot = try decoders[index].decode(page)
                health.scrapesSucceeded += 1
                health.pageBadLines += snapshot.stats.badLines
                health.seriesOverLimit += snapshot.stats.seriesOverLimit
                if let problem = snapshot.stats.firstBadLine {
                    output("page of \(proxy.podName): \(snapshot.stats.badLines) bad lines, first: \(problem)")
                }
                aggregator.ingest(snapshot, from: ProxyID(proxy.podName), workload: proxy.workload)
            }
            if !restarted && time - start >= options.restartAfter {
                restarted = true
                mesh.proxies[0].restart(at: time)
                output("» simulated restart of the linkerd-proxy in pod \(mesh.proxies[0].podName)")
            }
            if time >= nextWindow {
                nextWindow += options.windowLength
                let window = aggregator.closeWindow(at: time)
                windows.append(window)
                health.targets = mesh.proxies.count
                health.foldedRoutes = aggregator.stats.foldedRoutes
                health.queuedBatches = await uploader.currentStats.queuedBatches
                let batch = try builder.encode(window: window, health: health)
                await uploader.enqueue(batch)
                output(
                    "\nagent: window closed with \(window.routes.count) routes from "
                        + "\(RouteTable.formatted(Double(bytes) / 1_000, decimals: 0)) kB of pages; "
                        + "proxy restarts seen: \(aggregator.stats.proxyRestarts); "
                        + "batch \(batch.idempotencyKey) (\(batch.body.count) bytes gzip) queued")
                health = HealthSummary()
                bytes = 0
            }
        }
        return windows
    }

    /// What the local collector prints for a batch it received: the table from the decoded batch.
    static func describe(_ batch: Fathom_Agent_V1_ReportBatch) -> String {
        let window = AggregationWindow(batch)
        let health = batch.health
        let header =
            "collector: batch \(batch.agent.instanceID)-\(batch.sequence) from cluster \(batch.agent.clusterName), "
            + "window of \(RouteTable.formatted(window.duration, decimals: 1)) s, \(window.routes.count) routes; "
            + "agent health: \(health.targets) targets, \(health.scrapesSucceeded) scrapes, "
            + "\(health.pageBadLines) bad lines"
        return header + "\n" + RouteTable.render(window.routes)
    }
}
