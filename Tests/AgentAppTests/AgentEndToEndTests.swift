import AgentApp
import AgentConfiguration
import AgentTestSupport
import AsyncHTTPClient
import FathomModel
import Foundation
import KubernetesAPI
import KubernetesModels
import LocalServers
import Logging
import PrometheusText
import ProxySimulation
import ReportProtos
import Reporting
import RouteAggregation
import Synchronization
import Testing

/// The real `Agent` (as `fathom-agent run` builds it) against all three stand-ins: the fake
/// Kubernetes API (pods discovered by list/watch, watches broken and compacted mid-run), simulated
/// proxies served over HTTP (with a restart), and the collector (503, 429, a slow answer, a dropped
/// connection, then an outage across an agent restart, bridged by the spool). Every request shown
/// on a served page must reach the collector exactly once.
@Suite struct AgentEndToEndTests {
    /// - Parameter logger: where its log goes; nowhere (critical only) unless given.
    static func agent(
        api: FakeKubernetesAPI, collector: FakeCollector, spool: String, instance: String, grace: Double,
        logger given: Logger? = nil
    ) throws -> Agent {
        var configuration = AgentConfiguration()
        configuration.clusterName = "e2e"
        configuration.agentID = "fathom-e2e"
        configuration.reportEndpoint = collector.url
        configuration.scrapeInterval = 0.25
        configuration.scrapeTimeout = 0.2
        configuration.reportInterval = 0.6
        configuration.requestTimeout = 0.3
        configuration.spoolDirectory = spool
        configuration.tokenFile = ""
        configuration.adminAddress = "127.0.0.1"
        configuration.adminPort = 0
        configuration.minWatchTimeout = 2
        configuration.shutdownGracePeriod = grace
        var environment = AgentEnvironment(
            connection: api.connection,
            reflectorSettings: ReflectorSettings(
                initialBackoffSeconds: 0.05, maxBackoffSeconds: 0.3),
            instanceID: instance, targetPublishInterval: 0.1)
        environment.retry.initialBackoff = 0.05
        environment.retry.maxBackoff = 0.3
        var logger = Logger(label: "e2e")
        logger.logLevel = .critical
        return try Agent(configuration: configuration, environment: environment, logger: given ?? logger)
    }

    /// Freezes traffic and waits until the agent has scraped every proxy twice more, so one
    /// complete scrape saw the final values (the truth counts every page served, even one whose
    /// scrape timed out on a loaded machine).
    static func freezeAndSettle(_ proxies: SimulatedProxyServers, _ agent: Agent) async -> Bool {
        proxies.frozen.withLock { $0 = true }
        return await scraped(agent, times: 2)
    }

    /// Waits until the agent has scraped every one of the demo's proxies `times` more: time measured
    /// in scrapes, the same on a loaded machine as on an idle one.
    static func scraped(_ agent: Agent, times: Int) async -> Bool {
        let before = agent.scrapeCounts
        return await eventually(within: 30) {
            let now = agent.scrapeCounts
            return now.count == SimulatedMesh.demoPodCount
                && now.allSatisfy { $0.value >= before[$0.key, default: 0] + times }
        }
    }

    /// The agent's own metrics, read from its admin server and parsed with our parser.
    static func ownMetrics(_ agent: Agent) async throws -> ParsedPage {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(agent.adminPort)/metrics"), timeout: .seconds(5))
        return try ParsedPage.parse(Array(try await response.body.collect(upTo: 1 << 20).readableBytesView))
    }

    static func value(_ page: ParsedPage, _ name: String, _ labels: [LabelPair]) -> Double? {
        page.samples.first { $0.name == name && $0.labels == labels }?.value
    }

    @Test func everyRequestReachesTheCollectorOnceAcrossOutagesAndAnAgentRestart() async throws {
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let start = now()
        let truth = ServedTruth()
        let mesh = SimulatedMesh.demo(startedAt: start, seed: 11)
        let proxies = try await SimulatedProxyServers.start(mesh: mesh, now: now, served: truth.add)
        // Traffic starts once the agent has its first page of every proxy: a proxy that started
        // before the agent is counted from the agent's first page on, as in a real cluster.
        proxies.frozen.withLock { $0 = true }
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "e2e-token"))
        var cluster = DemoCluster(rolloutStart: 1)
        cluster.populate(api, mesh: mesh, ports: proxies.ports)
        let collector = try await FakeCollector.start(script: [
            .status(503), .status(429, retryAfter: "1"), .slow(seconds: 0.5, then: .accept), .dropConnection,
        ])
        let spool = NSTemporaryDirectory() + "fathom-e2e-\(UUID().uuidString)"

        // First agent: discovery, scraping and reporting through collector trouble and broken watches.
        let first = try Self.agent(api: api, collector: collector, spool: spool, instance: "first", grace: 0.5)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await first.run() }
            #expect(await eventually { first.isReady && first.proxiesScraped == SimulatedMesh.demoPodCount })
            truth.routes.withLock { $0 = [:] }
            proxies.frozen.withLock { $0 = false }
            for step in 1...8 {
                // Traffic flows for a scrape of every proxy between two steps of the cluster.
                #expect(await Self.scraped(first, times: 1))
                cluster.advance(api, elapsed: Double(step) * 1.5)
                if step == 2 {
                    // A restart wipes what the proxy counted since the page the agent last read
                    // (for any scraper: Prometheus loses it too). So the agent first reads every
                    // proxy's final page with traffic frozen; then the truth loses nothing the
                    // agent could have seen. (Restarting at an arbitrary moment made the truth
                    // count requests on pages whose scrape had timed out on a loaded machine.)
                    #expect(await Self.freezeAndSettle(proxies, first))
                    proxies.mesh.withLock { mesh in
                        mesh.proxies[0].restart(at: max(now(), start + 1.5))
                        _ = mesh.proxies[0].takeTruth()
                    }
                    proxies.frozen.withLock { $0 = false }
                }
                // History compacted, then the watches cut: resuming is 410 Gone, so discovery lists
                // again. (Both at once: a pod of the rollout moves at this step, and a watch that
                // saw it after a compaction would resume from past it.)
                if step == 4 {
                    api.compact()
                    api.dropWatches()
                }
            }
            // The inventory gauges and the watch counters on /metrics: the control plane's pods and
            // every meshed one; the rollout's steps came as Deployment watch events.
            #expect(
                await eventually {
                    guard let page = try? await Self.ownMetrics(first) else { return false }
                    return Self.value(page, "fathom_inventory_objects", [.init("resource", "pods")])
                        == Double(SimulatedMesh.demoPodCount + DemoCluster.controlPlanePods.count)
                })
            let page = try await Self.ownMetrics(first)
            func events(_ resource: String, _ type: String) -> Double? {
                Self.value(
                    page, "fathom_kubernetes_watch_events_total", [.init("resource", resource), .init("type", type)])
            }
            #expect(events("pods", "deleted") == 0)
            #expect((events("deployments", "modified") ?? 0) > 0)
            // Freeze traffic so the agent's last scrape sees every final value, then an outage
            // begins and the agent is stopped: what it cannot send stays in the spool.
            #expect(await Self.freezeAndSettle(proxies, first))
            collector.setOutage(503)
            await first.shutdown()
            try await group.waitForAll()
        }
        let acceptedBeforeRestart = collector.acceptedBatches.count
        let spooled = try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".batch") }
        #expect(!spooled.isEmpty, "the outage must leave batches in the spool")

        // Second agent, same spool: it baselines every proxy before traffic resumes, then the
        // outage ends and both its own batches and the first agent's reach the collector.
        // A long grace period: under a loaded machine the last uploads may need it.
        let second = try Self.agent(api: api, collector: collector, spool: spool, instance: "second", grace: 30)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await second.run() }
            #expect(await eventually { second.proxiesScraped == SimulatedMesh.demoPodCount })
            proxies.frozen.withLock { $0 = false }
            collector.setOutage(nil)
            #expect(await Self.scraped(second, times: 2))
            #expect(await Self.freezeAndSettle(proxies, second))
            await second.shutdown()
            try await group.waitForAll()
        }

        let batches = collector.acceptedBatches
        #expect(batches.count > acceptedBeforeRestart + spooled.count)
        let received = routeCounts(in: batches)
        let expected = truth.expected
        #expect(Set(received.keys) == Set(expected.keys))
        for (key, routeTruth) in expected {
            #expect(received[key]?.success == routeTruth.success, "\(key)")
            #expect(received[key]?.failure == routeTruth.failure, "\(key)")
        }
        #expect(expected.values.reduce(0) { $0 + $1.success + $1.failure } > 200)
        // The database's connections, bytes and policy decisions, and webapp's to it, exactly.
        let connections = truth.expectedConnections
        #expect(connectionCounts(in: batches) == connections)
        #expect(connections.keys.contains { $0.workload.name == "db" && $0.identity.source == .authorization })
        #expect(connections.values.contains { ($0.tcp[.bytesRead] ?? 0) > 0 })
        // Both agents' batches arrived, each sequence complete and in order per agent.
        for instance in ["first", "second"] {
            let sequences = batches.filter { $0.agent.instanceID == instance }.map(\.sequence).sorted()
            #expect(!sequences.isEmpty && sequences == Array(1...UInt64(sequences.count)), "\(instance)")
        }
        // Discovery: each agent's first batch after its first list carries the full inventory,
        // with the pod on an older proxy; the rollout during the first run was reported.
        let full = batches.filter { $0.hasInventory && $0.inventory.kind == .full }
        #expect(Set(full.map(\.agent.instanceID)) == ["first", "second"])
        #expect(full.first?.inventory.upserted.flatMap(\.podsWithOutdatedProxy) == ["vote-bot-5f7c9d8b6-lk2pw"])
        let phases = batches.flatMap(\.rolloutEvents).filter { $0.workload.name == "voting" }.map(\.phase)
        #expect(phases.first == .started && phases.contains(.completed))
        #expect(api.requestCounts["list pods", default: 0] >= 3, "the compaction forced a re-list")
        // Each route is of its pods' revision, named as the inventory and the rollout events name
        // the workload's revisions.
        var named: [String: Set<String>] = [:]
        for batch in batches {
            for workload in batch.inventory.upserted { named[workload.ref.name, default: []].insert(workload.revision) }
            for event in batch.rolloutEvents {
                named[event.workload.name, default: []].formUnion([event.fromRevision, event.toRevision])
            }
        }
        let deploymentRoutes = batches.flatMap(\.routeMetrics).filter { $0.workload.kind == "Deployment" }
        #expect(!deploymentRoutes.isEmpty)
        for route in deploymentRoutes {
            #expect(
                !route.revision.isEmpty && named[route.workload.name, default: []].contains(route.revision),
                "\(route.workload.name) revision \(route.revision), named \(named[route.workload.name] ?? [])")
        }

        // A destination the proxies name by ReplicaSet is numbered as its own pods' revision, and
        // every edge of the simulated mesh is mTLS with the destination's identity.
        let toWeb = batches.flatMap(\.routeMetrics).filter {
            $0.source == .endpoint && $0.direction == .outbound && $0.peer == "emojivoto/deployment/web"
        }
        #expect(!toWeb.isEmpty)
        for route in toWeb {
            #expect(route.peerReplicaSet == "web-6c8d7f9b4" && named["web", default: []].contains(route.peerRevision))
            #expect(route.security == .mutualTls)
            #expect(route.peerIdentity == "web.emojivoto.serviceaccount.identity.linkerd.cluster.local")
        }

        // Debian's protoc reads the new fields from the batches the agent sent, as they came.
        try Self.protocReads(collector.requests.compactMap(\.inflatedBody))

        try await proxies.shutdown()
        try await collector.shutdown()
        try await api.shutdown()
        try? FileManager.default.removeItem(atPath: spool)
    }

    /// `protoc --decode` with the published schema finds, in the batches as they came, every
    /// dimension the demo mesh has: revisions, outcomes, mTLS and the destination's ReplicaSet
    /// and revision, TCP, policy decisions, retries, errors before any response, and the mesh's
    /// health checks with what they name.
    static func protocReads(_ bodies: [[UInt8]]) throws {
        guard (try? runCommand("protoc", ["--version"]))?.status == 0 else {
            let required = ProcessInfo.processInfo.environment["FATHOM_REQUIRE_ORACLES"] == "1"
            #expect(!required, "FATHOM_REQUIRE_ORACLES is set but protoc is missing")
            return
        }
        let proto = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("proto").path
        var text = ""
        for body in bodies {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("fathom-e2e-\(UUID().uuidString)")
            try Data(body).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let decoded = try runCommand(
                "sh",
                [
                    "-c",
                    "protoc --decode=fathom.agent.v1.ReportBatch --proto_path='\(proto)' fathom/agent/v1/report.proto < '\(file.path)'",
                ])
            #expect(decoded.status == 0, "\(decoded.errors)")
            text += decoded.text
        }
        // What every run has (the failures' reasons are random: see below).
        var fields: Set<String> = [
            "revision: \"1\"", "http_status_class: \"2xx\"", "security: EDGE_SECURITY_MUTUAL_TLS",
            "peer_identity: \"web.emojivoto.serviceaccount.identity.linkerd.cluster.local\"",
            "peer_replica_set: \"web-6c8d7f9b4\"", "peer_revision: \"1\"", "source: SOURCE_TCP", "bytes_read: ",
            "source: SOURCE_AUTHORIZATION", "tcp_allowed: ", "retries {", "mesh_health {",
            "id: \"control-plane-pods-ready\"", "id: \"data-plane-proxy-certificates\"",
            "id: \"trust-anchors-expiring\"", "status: STATUS_WARNING",
        ]
        // And every source, outcome and revision the agent's own decoding finds in the same bytes.
        for body in bodies {
            let batch = try Fathom_Agent_V1_ReportBatch(serializedBytes: body)
            for line in batch.textFormatString().split(separator: "\n") {
                let field = line.trimmingCharacters(in: .whitespaces)
                if ["source: ", "revision: ", "http_status_class: ", "error: ", "id: ", "subjects: "].contains(
                    where: field.hasPrefix)
                {
                    fields.insert(field)
                }
            }
        }
        for field in fields.sorted() {
            #expect(text.contains(field), "protoc found no \(field)")
        }
    }
}
