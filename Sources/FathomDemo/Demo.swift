import AgentApp
import AgentConfiguration
import FathomModel
import Foundation
import KubernetesAPI
import LocalServers
import Logging
import MeshHealth
import ProxySimulation
import ReportProtos
import ReportWindows
import Reporting
import RouteAggregation
import Synchronization

/// Settings of `fathom-demo`.
public struct DemoOptions: Sendable {
    /// How long to run, in seconds; 0 runs until interrupted.
    public var duration: Double = 60
    public var scrapeInterval: Double = 2
    public var windowLength: Double = 10
    /// When to restart one simulated proxy, in seconds from the start; negative for never.
    public var restartAfter: Double = 25
    /// When the identity service starts refusing one proxy's certificate renewals (which it
    /// retries every second), in seconds from the start; negative for never.
    public var certificateFailureAfter: Double = 15
    public var seed: UInt64 = 42
    /// Port of the admin endpoints on 127.0.0.1; 0 picks a free one.
    public var adminPort = 0
    /// Whether SIGINT (Ctrl-C) and SIGTERM end the demo as they end the agent, delivering the
    /// last window first: the executable's, not a test's, which shares its process.
    public var handlesTerminationSignals = false

    public init() {}
}

/// The demo (`fathom-demo`): the real agent (`Agent`, the service graph `fathom-agent run`
/// builds) against a simulated meshed cluster on loopback.
///
/// A fake Kubernetes API server serves a Linkerd control plane and four meshed Deployments (one
/// of them rolls out a new revision during the demo, one pod runs an older proxy). Six simulated
/// linkerd-proxies (both metric generations, failing routes, one restart) are each served over
/// HTTP on their own port, which their pod's `config.linkerd.io/admin-port` names. The agent
/// discovers the pods through list/watch, scrapes them, aggregates windows and uploads real
/// report batches (protobuf, gzip) to a local collector, which decodes each one and prints the
/// per-route table and the rollout events.
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
        let mesh = SimulatedMesh.demo(startedAt: start, seed: options.seed)
        let proxies = try await SimulatedProxyServers.start(mesh: mesh, now: now)
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "demo-token"))
        // The rollout starts a third of the way in (8 s when the demo runs until interrupted).
        var cluster = DemoCluster(rolloutStart: options.duration > 0 ? min(8, options.duration / 3) : 8)
        cluster.populate(api, mesh: mesh, ports: proxies.ports)
        let script = cluster

        var configuration = AgentConfiguration()
        configuration.clusterName = "demo"
        configuration.agentID = "fathom-demo"
        configuration.reportEndpoint = collector.url
        configuration.tokenFile = ""
        configuration.scrapeInterval = options.scrapeInterval
        configuration.scrapeTimeout = min(5, options.scrapeInterval * 0.8)
        configuration.reportInterval = options.windowLength
        configuration.adminAddress = "127.0.0.1"
        configuration.adminPort = options.adminPort
        configuration.shutdownGracePeriod = 5
        let windows = Mutex<[AggregationWindow]>([])
        var environment = AgentEnvironment(
            connection: api.connection,
            reflectorSettings: ReflectorSettings(initialBackoffSeconds: 0.2, maxBackoffSeconds: 2), now: now,
            targetPublishInterval: 0.2)
        environment.handlesTerminationSignals = options.handlesTerminationSignals
        environment.onBatch = { queued in
            windows.withLock { $0.append(queued.window) }
            output(Self.describe(queued))
        }
        let agent: Agent
        do {
            agent = try Agent(configuration: configuration, environment: environment, logger: logger)
        } catch {
            try await api.shutdown()
            try await proxies.shutdown()
            try await collector.shutdown()
            throw error
        }

        // The agent runs its own service graph; the script plays the cluster beside it. If the
        // agent stops on its own (it could not start), the script stops too.
        let result: Result<Void, any Error> = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                do {
                    try await agent.run()
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                await self.drive(agent: agent, api: api, cluster: script, proxies: proxies, now: now)
                return nil
            }
            var result: Result<Void, any Error> = .success(())
            for await outcome in group {
                if let outcome {
                    result = outcome
                    group.cancelAll()
                }
            }
            return result
        }
        let delivered = collector.acceptedBatches.count
        if delivered < windows.withLock({ $0.count }) {
            output("some batches could not be delivered to the local collector")
        }
        try await api.shutdown()
        try await proxies.shutdown()
        try await collector.shutdown()
        try result.get()
        return windows.withLock { $0 }
    }

    /// Says what runs where, then plays the cluster's script (the rollout, the proxy restart)
    /// until the duration is over, and asks the agent to shut down.
    private func drive(
        agent: Agent, api: FakeKubernetesAPI, cluster: DemoCluster, proxies: SimulatedProxyServers,
        now: @Sendable () -> Double
    ) async {
        var cluster = cluster
        // The script's clock starts once the agent has scraped every proxy (or after 30 s, so a
        // broken discovery still shows its windows): a restart or a refused renewal before the
        // agent's first page of that proxy would be history to it, not an event, and a loaded
        // machine can take seconds to get there.
        let patience = now() + 30
        while agent.adminPort == 0 || (agent.proxiesScraped < proxies.ports.count && now() < patience) {
            do { try await Task.sleep(for: .milliseconds(20)) } catch { return }
        }
        let start = now()
        let scrapeEvery = RouteTable.formatted(options.scrapeInterval, decimals: 1)
        let windowEvery = RouteTable.formatted(options.windowLength, decimals: 1)
        let pods: Int = proxies.ports.count
        let port: Int = agent.adminPort
        let intro: String =
            "fathom demo: a fake Kubernetes API at \(api.url) serving a Linkerd control plane and \(pods) meshed "
            + "pods in 4 Deployments, each pod's linkerd-proxy simulated on its own loopback port; scraping every "
            + "\(scrapeEvery) s, a report batch every \(windowEvery) s to a local collector; the agent's /metrics, "
            + "/readyz, /debug/routes and /debug/mesh at http://127.0.0.1:\(port) "
            + "(fathom-agent routes|mesh --agent http://127.0.0.1:\(port))"
        output(intro)
        output(RouteTable.legend(kinds: Set(RouteSource.allCases.map(RouteTable.kind))))
        var restarted = options.restartAfter < 0
        // When the proxy whose renewals are refused tries again (every second, each refused).
        var nextRenewal =
            options.certificateFailureAfter < 0 ? Double.infinity : start + options.certificateFailureAfter
        var renewalRefused = false
        // A little past the end, so the last full window closes before the shutdown's partial one.
        while options.duration <= 0 || now() < start + options.duration + 0.3 {
            if cluster.advance(api, elapsed: now() - start) {
                // The new revision's pod fails more: the table shows both revisions side by side.
                proxies.mesh.withLock { mesh in
                    guard let index = mesh.proxies.firstIndex(where: { $0.podName == DemoCluster.rolledPod }) else {
                        return
                    }
                    mesh.proxies[index].setTraffic(
                        mesh.proxies[index].traffic.map { spec in
                            var spec = spec
                            spec.failureRate = min(1, spec.failureRate * 3 + 0.1)
                            return spec
                        })
                }
                output("» pod \(DemoCluster.rolledPod) now runs the new revision of voting, which fails more")
            }
            if !restarted && now() >= start + options.restartAfter {
                restarted = true
                let pod = proxies.mesh.withLock { mesh in
                    mesh.proxies[0].restart(at: now())
                    return mesh.proxies[0].podName
                }
                output("» simulated restart of the linkerd-proxy in pod \(pod)")
            }
            if now() >= nextRenewal {
                nextRenewal += 1
                let pod = proxies.mesh.withLock { mesh in
                    mesh.proxies[1].failCertificateRefresh()
                    return mesh.proxies[1].podName
                }
                if !renewalRefused {
                    renewalRefused = true
                    output("» the identity service refuses to renew the certificate of the proxy in pod \(pod)")
                }
            }
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
        }
        await agent.shutdown()
    }

    /// What the agent prints when it queues a batch.
    static func describe(_ queued: QueuedBatch) -> String {
        "\nagent: window closed with \(queued.window.routes.count) routes from "
            + "\(RouteTable.formatted(Double(queued.pageBytes) / 1_000, decimals: 0)) kB of pages of \(queued.targets) "
            + "pods; proxy restarts seen: \(queued.aggregation.proxyRestarts), counter resets: "
            + "\(queued.aggregation.counterResets); identity certificates: \(certificates(queued.certificates)); "
            + "mesh checks: \(checks(queued.checks)); "
            + "batch \(queued.batch.idempotencyKey) (\(queued.batch.body.count) bytes gzip) queued"
    }

    /// `2 ok, 2 warning (data-plane-proxies-version, data-plane-proxy-certificates)`: the checks
    /// by status, naming those that did not pass (`fathom-agent mesh` prints them in full).
    static func checks(_ checks: [MeshCheck]) -> String {
        let counts = CheckStatus.allCases.compactMap { status in
            let count = checks.filter { $0.status == status }.count
            return count > 0 ? "\(count) \(status.rawValue)" : nil
        }
        let failing = checks.filter { $0.status != .ok }.map(\.id)
        return (counts.isEmpty ? "none" : counts.joined(separator: ", "))
            + (failing.isEmpty ? "" : " (" + failing.joined(separator: ", ") + ")")
    }

    /// `6 valid, 1 refresh_failing (emojivoto/web-...)`: the proxies by the state of their
    /// certificate, naming those in trouble.
    static func certificates(_ summary: ProxyCertificates.Summary) -> String {
        let counts = CertificateState.allCases.compactMap { state in
            (summary.proxies[state] ?? 0) > 0 ? "\(summary.proxies[state]!) \(state.rawValue)" : nil
        }
        let troubled = summary.troubled.keys.map(\.rawValue).sorted()
        return (counts.isEmpty ? "none" : counts.joined(separator: ", "))
            + (troubled.isEmpty ? "" : " (" + troubled.joined(separator: ", ") + ")")
    }

    static func phaseName(_ phase: Fathom_Agent_V1_RolloutEvent.Phase) -> String {
        switch phase {
        case .started: "started"
        case .progressing: "progressing"
        case .completed: "completed"
        case .failed: "failed"
        case .rolledBack: "rolled back"
        default: "unknown"
        }
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
        var lines = [header]
        if batch.hasInventory {
            let outdated = batch.inventory.upserted.flatMap(\.podsWithOutdatedProxy)
            lines.append(
                "inventory (\(batch.inventory.kind == .full ? "full" : "changes")): "
                    + batch.inventory.upserted.map {
                        "\($0.ref.name) rev \($0.revision) \($0.replicasAvailable)/\($0.replicasDesired)"
                    }
                    .joined(separator: ", ")
                    + (outdated.isEmpty
                        ? "" : "; pods behind the control plane's proxy version: \(outdated.joined(separator: ", "))"))
        }
        for event in batch.rolloutEvents {
            lines.append(
                "rollout: \(event.workload.namespace)/\(event.workload.name) \(Self.phaseName(event.phase)) "
                    + "rev \(event.fromRevision.isEmpty ? "-" : event.fromRevision) → \(event.toRevision) "
                    + "(\(event.fromImages.joined(separator: ",")) → \(event.toImages.joined(separator: ",")))")
        }
        return lines.joined(separator: "\n") + "\n" + RouteTable.render(window.routes)
    }
}
