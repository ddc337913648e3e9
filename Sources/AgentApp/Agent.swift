import AgentConfiguration
import AsyncHTTPClient
import FathomModel
import Foundation
import HeapRelease
import Inventory
import KubernetesAPI
import Logging
import Reporting
import RouteAggregation
import Scraping
import Synchronization

/// What the agent runs against, besides its configuration: where the Kubernetes API is, where
/// the admin server listens, the clock, and how long shutdown may take.
public struct AgentEnvironment: Sendable {
    public var connection: ClusterConnection
    public var adminHost: String
    public var reflectorSettings: ReflectorSettings
    public var now: @Sendable () -> Double
    /// Random per process start; with the sequence number it names every batch.
    public var instanceID: String
    /// Seconds to deliver what is queued after a shutdown request; the chart's
    /// `terminationGracePeriodSeconds` is set above it.
    public var shutdownGraceSeconds: Double
    /// Seconds between publications of the scrape targets (changes are coalesced).
    public var targetPublishInterval: Double
    /// Upload retry timing; the defaults suit a real collector.
    public var retry = RetryPolicy()
    /// The mounted configuration file, watched for changes (a ConfigMap update swaps a symlink);
    /// nil when the configuration does not come from a file.
    public var configurationFile: String?
    /// Seconds between checks of the configuration file.
    public var configurationCheckInterval: Double = 5
    /// Environment variables that override configuration keys, applied on reload too.
    public var variables: [String: String] = ProcessInfo.processInfo.environment
    /// The log level every handler reads; reloads change it.
    public var logLevel: LogLevelControl?
    /// Leader election in daemonset mode (when `kubernetes.nodeName` is set): only the leader
    /// reports the inventory and rollouts, every agent reports its node's routes. Nil picks
    /// client-go's timings, the Lease `<agent.id>-leader` in the pod's namespace, and the pod name
    /// (`POD_NAME`, else `HOSTNAME`) as identity.
    public var leaderElection: LeaderElectionSettings?

    public init(
        connection: ClusterConnection, adminHost: String = "0.0.0.0",
        reflectorSettings: ReflectorSettings = ReflectorSettings(),
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        instanceID: String = String(UInt64.random(in: 0...UInt64.max), radix: 16), shutdownGraceSeconds: Double = 20,
        targetPublishInterval: Double = 1
    ) {
        self.connection = connection
        self.adminHost = adminHost
        self.reflectorSettings = reflectorSettings
        self.now = now
        self.instanceID = instanceID
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.targetPublishInterval = targetPublishInterval
    }
}

/// The running agent (`fathom-agent run`): discovery → scraping → aggregation → batches → upload,
/// with the admin server, until `shutdown` fires. Then, in order: stop watching and scraping,
/// close the last (partial) window, deliver what is queued within the grace period; what is not
/// delivered stays in the spool for the next start.
public final class Agent: Sendable {
    public let configuration: AgentConfiguration
    public let environment: AgentEnvironment
    public let metrics: AgentMetrics
    public let shutdown = ShutdownTrigger()
    private let logger: Logger
    private let adminPortBox = Mutex(0)
    private let discoveryBox = Mutex<Discovery?>(nil)
    private let electorBox = Mutex<LeaseElector?>(nil)
    private let lastWindow = LastWindow()
    private let live: Mutex<AgentConfiguration>
    /// Called with every batch as it is queued (the demo prints from it; tests count).
    private let onBatch: @Sendable (QueuedBatch) -> Void

    public init(
        configuration: AgentConfiguration, environment: AgentEnvironment, logger: Logger,
        onBatch: @escaping @Sendable (QueuedBatch) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.environment = environment
        self.logger = logger
        self.metrics = AgentMetrics(version: AgentVersion.current)
        self.onBatch = onBatch
        self.live = Mutex(configuration)
    }

    /// The configuration in effect: the one it started with, plus reloaded live keys.
    public var currentConfiguration: AgentConfiguration { live.withLock { $0 } }

    /// The admin server's port once it listens (useful with port 0).
    public var adminPort: Int { adminPortBox.withLock { $0 } }

    /// Proxies scraped successfully at least once since the agent started.
    public var proxiesScraped: Int { lastWindow.scrapedProxies.withLock { $0.count } }

    /// Successful scrapes per proxy (`namespace/pod`) since the agent started.
    public var scrapeCounts: [String: Int] {
        lastWindow.scrapedProxies.withLock { counts in
            Dictionary(uniqueKeysWithValues: counts.map { ("\($0.key)", $0.value) })
        }
    }

    /// The pods being scraped (`namespace/name`), as discovery last computed them.
    public var discoveredTargets: [String] {
        (discoveryBox.withLock { $0 }?.scrapeCandidates() ?? []).map { "\($0.pod)" }
    }

    /// In daemonset mode, whether this agent leads (reports the inventory and rollouts); always
    /// true otherwise.
    public var isLeader: Bool { electorBox.withLock { $0 }?.isLeader ?? true }

    /// Whether every watcher has listed once.
    public var isReady: Bool { discoveryBox.withLock { $0 }?.isSynced ?? false }

    public func run() async throws {
        let configuration = self.configuration
        let environment = self.environment
        let now = environment.now
        let kubernetes = try KubernetesClient(connection: environment.connection)
        let discovery = Discovery(
            client: kubernetes,
            settings: InventorySettings(
                controlPlaneNamespace: configuration.controlPlaneNamespace,
                namespaces: configuration.namespaceFilter),
            nodeName: configuration.nodeName, reflectorSettings: environment.reflectorSettings, logger: logger,
            metrics: metrics, now: now)
        discoveryBox.withLock { $0 = discovery }
        let elector =
            configuration.nodeName.isEmpty
            ? nil
            : LeaseElector(
                client: kubernetes,
                settings: environment.leaderElection
                    ?? LeaderElectionSettings(
                        namespace: environment.connection.namespace ?? "default",
                        leaseName: "\(configuration.agentID)-leader",
                        identity: environment.variables["POD_NAME"] ?? environment.variables["HOSTNAME"]
                            ?? configuration.nodeName),
                logger: logger, now: now)
        electorBox.withLock { $0 = elector }
        let lastWindow = self.lastWindow
        let admin = try await AdminServer.start(
            host: environment.adminHost, port: configuration.adminPort, metrics: metrics,
            ready: { discovery.isSynced }, lastWindow: { lastWindow.window.withLock { $0 } })
        adminPortBox.withLock { $0 = admin.port }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let pipeline = AgentPipeline(
            aggregator: RouteAggregator(
                startedAt: now(), limits: .init(maxRoutesPerWorkload: configuration.maxRoutesPerWorkload)),
            metrics: metrics, lastWindow: lastWindow)
        let scraper = ScrapeManager(
            settings: configuration.scrapeSettings, fetcher: PageFetcher(), logger: logger,
            deliver: { await pipeline.handle($0) })
        var uploaderConfiguration = UploaderConfiguration(endpoint: configuration.reportEndpoint)
        uploaderConfiguration.tokenFile = configuration.tokenFile.isEmpty ? nil : configuration.tokenFile
        uploaderConfiguration.requestTimeout = configuration.requestTimeout
        uploaderConfiguration.queueMaxBytes = configuration.queueMaxBytes
        uploaderConfiguration.spoolDirectory = configuration.spoolDirectory
        uploaderConfiguration.spoolMaxBytes = configuration.spoolMaxBytes
        uploaderConfiguration.userAgent = "fathom-agent/\(AgentVersion.current)"
        uploaderConfiguration.retry = environment.retry

        let reporter = Reporter(
            builder: BatchBuilder(
                identity: AgentIdentity(
                    agentID: configuration.agentID, instanceID: environment.instanceID,
                    clusterName: configuration.clusterName, agentVersion: AgentVersion.current,
                    nodeName: configuration.nodeName)),
            inventory: InventoryReporter(snapshotEvery: configuration.inventorySnapshotEvery))
        var failure: (any Error)?
        do {
            let uploader = try Uploader(configuration: uploaderConfiguration, client: http, logger: logger)
            logger.info(
                "agent started",
                metadata: [
                    "agent.version": "\(AgentVersion.current)", "k8s.server": "\(environment.connection.server)",
                    "report.endpoint": "\(configuration.reportEndpoint)", "admin.port": "\(admin.port)",
                ])
            await withTaskGroup(of: Void.self) { delivery in
                delivery.addTask { await uploader.run() }
                await withTaskGroup(of: Void.self) { collection in
                    collection.addTask {
                        do {
                            try await discovery.run(publishInterval: environment.targetPublishInterval) { candidates in
                                await scraper.update(targets: candidates.map(ScrapeTarget.init))
                            }
                        } catch {}
                    }
                    collection.addTask { await scraper.run() }
                    if let elector { collection.addTask { await elector.run() } }
                    if let file = environment.configurationFile {
                        collection.addTask {
                            await self.watchConfiguration(file, scraper: scraper, discovery: discovery)
                        }
                    }
                    collection.addTask {
                        var next = now() + configuration.reportInterval
                        while !Task.isCancelled {
                            let wait = next - now()
                            if wait > 0 {
                                do { try await Task.sleep(for: .milliseconds(Int64(wait * 1_000))) } catch { return }
                            }
                            // Read each time: report.interval can be reloaded.
                            next += self.live.withLock { $0.reportInterval }
                            await self.closeWindow(pipeline, reporter, discovery, uploader, at: now())
                        }
                    }
                    collection.addTask {
                        // Every scrape interval frees and reuses a page's worth of memory per
                        // target; glibc keeps the freed pages, and resident memory would sit 30 MB
                        // above what is in use at 1,000 targets (fathom-bench --agent-fleet). A
                        // release costs about a millisecond.
                        while !Task.isCancelled {
                            let interval = max(1, self.live.withLock { $0.scrapeInterval })
                            do { try await Task.sleep(for: .milliseconds(Int64(interval * 1_000))) } catch { return }
                            fathom_release_free_heap()
                        }
                    }
                    await self.shutdown.wait()
                    self.logger.info("shutting down: stopping discovery and scraping")
                    await elector?.release()
                    await scraper.finish()
                    collection.cancelAll()
                }
                // The last, partial window: everything scraped so far leaves with it.
                await self.closeWindow(pipeline, reporter, discovery, uploader, at: now())
                let delivered = await uploader.flush(within: environment.shutdownGraceSeconds)
                let left = await uploader.currentStats.queuedBatches
                if delivered {
                    self.logger.info("shutdown complete: every batch delivered")
                } else {
                    self.logger.warning(
                        "shutdown: batches not delivered within the grace period",
                        metadata: [
                            "report.queued": "\(left)",
                            "report.spool": "\(configuration.spoolDirectory ?? "disabled: they are lost")",
                        ])
                }
                delivery.cancelAll()
            }
        } catch {
            failure = error
        }
        try? await http.shutdown()
        try? await kubernetes.shutdown()
        try? await admin.shutdown()
        if let failure { throw failure }
    }

    /// Reloads the configuration file when its content changes. A valid file's live keys apply at
    /// once; keys that need a restart are named in the log; an invalid file is counted and logged
    /// with every problem, and the running configuration stays.
    private func watchConfiguration(_ file: String, scraper: ScrapeManager, discovery: Discovery) async {
        var lastText = FileManager.default.contents(atPath: file)
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(Int64(environment.configurationCheckInterval * 1_000)))
            } catch { return }
            guard let text = FileManager.default.contents(atPath: file), text != lastText else { continue }
            lastText = text
            let loaded: AgentConfiguration
            do {
                loaded = try ConfigurationLoader.load(
                    yaml: String(decoding: text, as: UTF8.self), environment: environment.variables)
            } catch {
                metrics.recordConfigReload("failure")
                logger.error(
                    "configuration reload failed; keeping the running configuration",
                    metadata: ["config.file": "\(file)", "error": "\(error)"])
                continue
            }
            let running = live.withLock { $0 }
            let changed = loaded.changedKeys(from: running)
            let reloadable = Set(ConfigurationKey.all.filter(\.reloadable).map(\.path))
            var applied = running
            applied.scrapeInterval = loaded.scrapeInterval
            applied.scrapeTimeout = loaded.scrapeTimeout
            applied.maxPageBytes = loaded.maxPageBytes
            applied.includeNamespaces = loaded.includeNamespaces
            applied.excludeNamespaces = loaded.excludeNamespaces
            applied.reportInterval = loaded.reportInterval
            applied.logLevel = loaded.logLevel
            live.withLock { $0 = applied }
            if changed.contains(where: { $0.hasPrefix("scrape.") }) {
                // The scraper keeps its concurrency cap, a restart-only key.
                await scraper.update(settings: applied.scrapeSettings)
            }
            if changed.contains(where: { $0.hasPrefix("scrape.namespaces.") }) {
                discovery.update(namespaces: applied.namespaceFilter)
            }
            if let level = Logger.Level(rawValue: applied.logLevel) { environment.logLevel?.level = level }
            metrics.recordConfigReload("success")
            let needRestart = changed.filter { !reloadable.contains($0) }
            logger.info(
                "configuration reloaded",
                metadata: ["config.applied": "\(changed.filter(reloadable.contains).joined(separator: ","))"])
            if !needRestart.isEmpty {
                logger.warning(
                    "configuration keys changed that apply only after a restart",
                    metadata: ["config.keys": "\(needRestart.joined(separator: ","))"])
            }
        }
    }

    private func closeWindow(
        _ pipeline: AgentPipeline, _ reporter: Reporter, _ discovery: Discovery, _ uploader: Uploader, at time: Double
    ) async {
        var (window, health, pageBytes, stats) = await pipeline.closeWindow(at: time)
        health.queuedBatches = await uploader.currentStats.queuedBatches
        // In daemonset mode only the leader reports the cluster-wide inventory and rollouts;
        // every agent reports the routes of its own node's pods.
        let leads = electorBox.withLock { $0 }?.isLeader ?? true
        let taken = discovery.takeRolloutEvents()
        let events = leads ? taken : []
        do {
            let batch = try reporter.encode(
                window: window, health: health, workloads: leads && discovery.isSynced ? discovery.workloads() : nil,
                rolloutEvents: events)
            await uploader.enqueue(batch)
            metrics.record(await uploader.currentStats)
            onBatch(
                QueuedBatch(
                    batch: batch, window: window, rolloutEvents: events, pageBytes: pageBytes, aggregation: stats,
                    targets: health.targets))
        } catch {
            logger.error("cannot encode a report batch", metadata: ["error": "\(error)"])
        }
    }
}

/// A batch the agent just queued, with what went into it.
public struct QueuedBatch: Sendable {
    public var batch: EncodedBatch
    public var window: AggregationWindow
    public var rolloutEvents: [RolloutEvent]
    /// Page bytes scraped during the window.
    public var pageBytes: Int
    public var aggregation: RouteAggregator.Stats
    public var targets: Int
}

/// Builds batches: the builder's sequence numbers and the inventory's full/delta rhythm.
final class Reporter: Sendable {
    private let state: Mutex<(BatchBuilder, InventoryReporter)>

    init(builder: BatchBuilder, inventory: InventoryReporter) {
        state = Mutex((builder, inventory))
    }

    /// `workloads` is nil until discovery has listed everything: a partial inventory is not sent.
    func encode(
        window: AggregationWindow, health: HealthSummary, workloads: [WorkloadSummary]?, rolloutEvents: [RolloutEvent]
    ) throws -> EncodedBatch {
        try state.withLock { state in
            let section = workloads.flatMap { state.1.section(for: $0) }
            return try state.0.encode(window: window, health: health, inventory: section, rolloutEvents: rolloutEvents)
        }
    }
}

extension AgentConfiguration {
    /// The scrape keys as the scrape manager takes them.
    var scrapeSettings: ScrapeSettings {
        var settings = ScrapeSettings()
        settings.interval = scrapeInterval
        settings.timeout = scrapeTimeout
        settings.maxPageBytes = maxPageBytes
        settings.maxConcurrentScrapes = maxConcurrentScrapes
        return settings
    }

    /// The `scrape.namespaces` keys as the inventory applies them.
    var namespaceFilter: NamespaceFilter {
        NamespaceFilter(include: includeNamespaces, exclude: excludeNamespaces)
    }
}

extension ScrapeTarget {
    /// A scrape target for a meshed pod; the proxy is named by namespace and pod.
    init(_ candidate: ScrapeCandidate) {
        self.init(proxy: ProxyID("\(candidate.pod)"), workload: candidate.workload, url: candidate.url)
    }
}

extension ClusterConnection {
    /// The connection `fathom-agent run` uses: the configured kubeconfig, else the pod's service
    /// account, else (outside a cluster) `$KUBECONFIG` or `~/.kube/config`.
    public static func forAgent(
        kubeconfig: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(KubernetesAPIError) -> ClusterConnection {
        if !kubeconfig.isEmpty { return try .kubeconfig(path: kubeconfig, environment: environment) }
        do {
            return try .inCluster(environment: environment)
        } catch {
            let fallback = environment["KUBECONFIG"] ?? (environment["HOME"] ?? "") + "/.kube/config"
            guard environment["KUBERNETES_SERVICE_HOST"] == nil,
                FileManager.default.fileExists(atPath: fallback.split(separator: ":").first.map(String.init) ?? "")
            else { throw error }
            return try .kubeconfig(environment: environment)
        }
    }
}
