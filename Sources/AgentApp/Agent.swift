import AgentConfiguration
import AsyncHTTPClient
import ClusterDiscovery
import FathomModel
import Foundation
import Inventory
import KubernetesAPI
import KubernetesModels
import Logging
import ReportEncoding
import ReportWindows
import Reporting
import RouteAggregation
import Scraping
import ServiceLifecycle

/// The running agent: the one service graph that `fathom-agent run`, the demo, the fleet
/// benchmark and the tests all build, through this initializer, from a configuration and an
/// environment.
///
/// One `ServiceGroup` runs, in start order: the admin server, the uploader, leader election
/// (daemonset mode), the window clock, heap release, the configuration watcher (with a file),
/// scraping and discovery. A graceful shutdown (SIGTERM or SIGINT when the environment asks for
/// it, or `shutdown()`) stops them in reverse: discovery, then scraping; the window clock closes
/// the last window; leader election hands the Lease back; the uploader drains, retrying through
/// `shutdown.gracePeriod`, and what is left stays in the spool; the admin server stops last. A
/// service that fails is logged and ends the group, and `run` throws.
public final class Agent: Sendable {
    public let configuration: AgentConfiguration
    public let environment: AgentEnvironment
    public let metrics: AgentMetrics
    private let logger: Logger
    private let group: ServiceGroup
    private let kubernetes: KubernetesClient
    private let http: HTTPClient
    private let discovery: Discovery
    private let elector: LeaseElector?
    private let admin: AdminService
    private let live: LiveConfiguration
    private let lastWindow = LastWindow()

    /// Builds every part and the service graph; nothing runs until `run()`. Throws when the
    /// cluster's TLS material or the spool cannot be used.
    public init(configuration: AgentConfiguration, environment: AgentEnvironment, logger: Logger) throws {
        self.configuration = configuration
        self.environment = environment
        self.logger = logger
        let metrics = AgentMetrics(version: AgentVersion.current)
        self.metrics = metrics
        let live = LiveConfiguration(configuration)
        self.live = live
        let now = environment.now

        let credentialChanged = CredentialLog(metrics: metrics, logger: logger)
        let kubernetes = try KubernetesClient(connection: environment.connection) { change in
            credentialChanged(change.credential, path: change.path, usable: change.usable)
        }
        let http: HTTPClient
        let collectorTLS: CollectorClient.RotatingTLS?
        do {
            http = try CollectorClient.make(configuration, environment: environment.variables)
            collectorTLS = try CollectorClient.RotatingTLS(configuration) { path, usable in
                credentialChanged("collector_ca", path: path, usable: usable)
            }
        } catch {
            try? kubernetes.syncShutdown()
            throw error
        }
        let uploader: Uploader
        do {
            var settings = UploaderConfiguration(configuration)
            settings.retry = environment.retry
            settings.userAgent = "fathom-agent/\(AgentVersion.current)"
            if let collectorTLS { settings.tlsConfiguration = { collectorTLS.configuration() } }
            settings.tokenChanged = { path in credentialChanged("collector_token", path: path, usable: true) }
            uploader = try Uploader(
                configuration: settings, client: http, logger: logger, observe: { metrics.record($0) })
        } catch {
            try? http.syncShutdown()
            try? kubernetes.syncShutdown()
            throw error
        }
        self.kubernetes = kubernetes
        self.http = http

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
        self.elector = elector
        let leads: (@Sendable () -> Bool)? = elector.map { elector in { @Sendable in elector.isLeader } }
        var reflectorSettings = environment.reflectorSettings
        reflectorSettings.watchTimeoutSeconds = ReflectorSettings.watchTimeouts(atLeast: configuration.minWatchTimeout)
        let discovery = Discovery(
            client: kubernetes,
            settings: InventorySettings(
                controlPlaneNamespace: configuration.controlPlaneNamespace, namespaces: configuration.namespaceFilter),
            nodeName: configuration.nodeName, leads: leads,
            reflectorSettings: reflectorSettings, logger: logger, observer: metrics, now: now)
        self.discovery = discovery

        let lastWindow = self.lastWindow
        let aggregation = WindowAggregation(
            aggregator: RouteAggregator(
                startedAt: now(), limits: .init(maxRoutesPerWorkload: configuration.maxRoutesPerWorkload)),
            observer: metrics, lastWindow: lastWindow, logger: logger,
            buildSeen: { proxy, version in discovery.recordProxyBuild(version, of: proxy.rawValue) })
        let scraper = ScrapeManager(
            settings: ScrapeSettings(configuration), source: PageFetcher(), logger: logger,
            deliver: { await aggregation.handle($0) })
        let pageBudget = configuration.maxBytesInFlight
        metrics.sampleBeforeExposition {
            metrics.recordPageBytes(
                budget: pageBudget, inFlight: scraper.pageBytesInFlight, highest: scraper.highestPageBytesInFlight)
        }
        let reporter = Reporter(
            builder: BatchBuilder(
                identity: AgentIdentity(
                    agentID: configuration.agentID, instanceID: environment.instanceID,
                    clusterName: configuration.clusterName, agentVersion: AgentVersion.current,
                    nodeName: configuration.nodeName)),
            inventory: InventoryReporter(snapshotEvery: configuration.inventorySnapshotEvery))
        let windows = WindowCloser(
            aggregation: aggregation, reporter: reporter, discovery: discovery, uploader: uploader, elector: elector,
            reportInterval: configuration.reportInterval,
            trustAnchorExpiryWarning: { live.current.trustAnchorExpiryWarning }, observer: metrics,
            lastWindow: lastWindow, logger: logger, onBatch: environment.onBatch)
        let admin = AdminService(
            address: configuration.adminAddress, port: configuration.adminPort, metrics: metrics,
            readiness: { discovery.readiness }, lastWindow: lastWindow, logger: logger)
        self.admin = admin

        // Start order; the graceful shutdown runs it backwards.
        var services: [(String, any Service)] = [
            ("admin", admin),
            (
                "upload",
                UploadService(
                    uploader: uploader, graceSeconds: configuration.shutdownGracePeriod,
                    spoolDirectory: configuration.spoolDirectory, logger: logger)
            ),
        ]
        if let elector { services.append(("leader-election", LeaderElectionService(elector: elector))) }
        services.append(
            (
                "window",
                WindowService(
                    interval: { live.current.reportInterval }, now: now, schedule: environment.windowSchedule,
                    windows: windows)
            ))
        services.append(("heap-release", HeapReleaseService(live: live)))
        if let file = environment.configurationFile {
            let logLevel = environment.logLevel
            services.append(
                (
                    "configuration",
                    ConfigurationWatcher(
                        file: file, checkInterval: environment.configurationCheckInterval,
                        variables: environment.variables, live: live, metrics: metrics, logger: logger,
                        apply: { reload in
                            await Self.apply(reload, scraper: scraper, discovery: discovery, logLevel: logLevel)
                        })
                ))
        }
        services.append(("scraping", ScrapeService(scraper: scraper)))
        services.append(
            (
                "discovery",
                DiscoveryService(discovery: discovery, publishInterval: environment.targetPublishInterval) {
                    candidates in
                    // A pod's revision goes beside its target, not in it: a revision renumbered
                    // (`rollout undo`) must not restart the pod's scrape loop and lose its counts.
                    await aggregation.updateRevisions(
                        Dictionary(candidates.map { (ProxyID("\($0.pod)"), $0.revision) }) { first, _ in first })
                    await scraper.update(targets: candidates.map(ScrapeTarget.init))
                }
            ))

        var group = ServiceGroupConfiguration(
            services: services.map { name, service in
                ServiceGroupConfiguration.ServiceConfiguration(
                    service: LoggedService(name: name, base: service, logger: logger),
                    successTerminationBehavior: .cancelGroup, failureTerminationBehavior: .cancelGroup,
                    serviceName: name)
            },
            gracefulShutdownSignals: environment.handlesTerminationSignals ? [.sigterm, .sigint] : [],
            logger: logger)
        // Past the grace period (plus an upload in flight), shutdown turns into cancellation.
        group.maximumGracefulShutdownDuration = .milliseconds(
            Int64((configuration.shutdownGracePeriod + configuration.requestTimeout + 5) * 1_000))
        self.group = ServiceGroup(configuration: group)
    }

    /// Runs the service graph until a graceful shutdown completes; throws when a service failed.
    public func run() async throws {
        logger.info(
            "agent started",
            metadata: [
                "agent.version": "\(AgentVersion.current)", "k8s.server": "\(environment.connection.server)",
                "report.endpoint": "\(configuration.reportEndpoint)",
                "admin.address": "\(configuration.adminAddress):\(configuration.adminPort)",
            ])
        for problem in CredentialProblems.of(configuration) {
            logger.warning(
                "\(problem.message)",
                metadata: [
                    "report.tokenFile": "\(configuration.tokenFile)",
                    "report.endpoint": "\(configuration.reportEndpoint)",
                    "hint": "\(problem.hint)",
                ])
        }
        var failure: (any Error)?
        do {
            try await group.run()
        } catch {
            failure = error
        }
        try? await http.shutdown()
        try? await kubernetes.shutdown()
        if let failure {
            if !(failure is AgentFailure) {
                logger.error("agent stopped on an error", metadata: ["error": "\(failure)"])
            }
            throw failure
        }
        logger.info("agent stopped")
    }

    /// Starts the graceful shutdown (remembered if `run` has not started yet).
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }

    /// A reload's live settings, applied where they are used.
    private static func apply(
        _ reload: ConfigurationReload, scraper: ScrapeManager, discovery: Discovery, logLevel: LogLevelControl?
    ) async {
        let applied = reload.configuration
        for setting in reload.settings {
            switch setting {
            case .scraping:
                // The scraper keeps its concurrency cap, a restart-only key.
                await scraper.update(settings: ScrapeSettings(applied))
            case .namespaceFilter:
                discovery.update(namespaces: applied.namespaceFilter)
            case .reportInterval, .meshChecks:
                break  // The window clock and the window's checks read them at every window.
            case .logLevel:
                if let level = Logger.Level(rawValue: applied.logLevel) { logLevel?.level = level }
            }
        }
    }

    // MARK: - What tests, the demo and the benchmark observe

    /// The configuration in effect: the one it started with, plus reloaded live keys.
    public var currentConfiguration: AgentConfiguration { live.current }

    /// The admin server's port once it listens (useful with port 0), else 0.
    public var adminPort: Int { admin.boundPort }

    /// Proxies scraped successfully at least once since the agent started.
    public var proxiesScraped: Int { lastWindow.scrapedProxies.withLock { $0.count } }

    /// Successful scrapes per proxy (`namespace/pod`) since the agent started.
    public var scrapeCounts: [String: Int] {
        lastWindow.scrapedProxies.withLock { counts in
            Dictionary(uniqueKeysWithValues: counts.map { ("\($0.key)", $0.value) })
        }
    }

    /// The pods being scraped (`namespace/name`), as discovery last computed them.
    public var discoveredTargets: [String] { discovery.scrapeCandidates().map { "\($0.pod)" } }

    /// In daemonset mode, whether this agent leads (reports the inventory and rollouts); always
    /// true otherwise.
    public var isLeader: Bool { elector?.isLeader ?? true }

    /// Whether the agent is ready, as `/readyz` says (`Discovery.notReadyReason`).
    public var isReady: Bool { discovery.notReadyReason == nil }

    /// What `/readyz` answers.
    public var readiness: Readiness { discovery.readiness }
}

/// Logs a credential file that changed, once per change and never its content, and counts it.
struct CredentialLog: Sendable {
    let metrics: AgentMetrics
    let logger: Logger

    func callAsFunction(_ credential: String, path: String, usable: Bool) {
        metrics.recordCredentialReload(credential, usable: usable)
        if usable {
            logger.info(
                "Credential file changed; the next requests use it",
                metadata: ["credential": "\(credential)", "file.path": "\(path)"])
        } else {
            logger.warning(
                "Credential file changed but cannot be used; the last good one stays",
                metadata: ["credential": "\(credential)", "file.path": "\(path)"])
        }
    }
}

extension AgentConfiguration {
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
