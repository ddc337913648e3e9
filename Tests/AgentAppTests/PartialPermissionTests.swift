import AgentApp
import AgentConfiguration
import AgentTestSupport
import AsyncHTTPClient
import Foundation
import KubernetesAPI
import KubernetesModels
import LocalServers
import Logging
import PrometheusText
import ProxySimulation
import Synchronization
import Testing

/// One missing permission never blinds the agent: what synced is used, the gap is reported in
/// every batch and on `/metrics`, and each change of a resource's state is logged once.
@Suite struct PartialPermissionTests {
    @Test func aForbiddenResourceIsReportedAndTheRestWorks() async throws {
        var behaviour = FakeKubernetesAPI.Behaviour()
        behaviour.forbidden = ["daemonsets"]
        let demo = try await ServedDemoCluster.start(behaviour: behaviour)
        let (proxies, api) = (demo.proxies, demo.api)
        let collector = try await FakeCollector.start()
        let logs = LogStore()
        var logger = Logger(label: "partial") { _ in CapturingLogHandler(store: logs) }
        logger.logLevel = .info

        var configuration = AgentConfiguration()
        configuration.clusterName = "partial"
        configuration.reportEndpoint = collector.url
        configuration.tokenFile = ""
        configuration.scrapeInterval = 0.25
        configuration.scrapeTimeout = 2
        configuration.reportInterval = 0.6
        configuration.adminAddress = "127.0.0.1"
        configuration.adminPort = 0
        configuration.minWatchTimeout = 2
        let agent = try Agent(
            configuration: configuration,
            environment: AgentEnvironment(
                connection: api.connection,
                reflectorSettings: ReflectorSettings(
                    initialBackoffSeconds: 0.05, maxBackoffSeconds: 0.2),
                targetPublishInterval: 0.1), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            // Scraping and readiness do not wait for the forbidden resource.
            #expect(
                await eventually(within: 30) { agent.isReady && agent.proxiesScraped == SimulatedMesh.demoPodCount })
            // Ready, and /readyz names what the agent may not read.
            #expect(agent.readiness == .ready(unwatched: ["daemonsets (forbidden)"]))
            #expect(
                await eventually(within: 30) {
                    collector.acceptedBatches.contains { $0.hasInventory && !$0.routeMetrics.isEmpty }
                })
            let batch = try #require(collector.acceptedBatches.last)
            let daemonsets = try #require(batch.health.resources.first { $0.resource == "daemonsets" })
            #expect(daemonsets.state == .forbidden)
            #expect(daemonsets.message.contains("403"))
            #expect(batch.health.resources.first { $0.resource == "pods" }?.state == .synced)
            #expect(batch.health.resources.first { $0.resource == "rollouts" }?.state == .notInstalled)
            #expect(await Self.metric(agent, ["resource": "daemonsets", "state": "forbidden"]) == 1)
            #expect(await Self.metric(agent, ["resource": "pods", "state": "synced"]) == 1)
            // Logged once, though retried many times.
            #expect(await eventually { api.requestCounts["list daemonsets", default: 0] >= 4 })
            let failing: ([String: String]) -> Bool = { $0["k8s.resource"] == "daemonsets" }
            #expect(logs.count("watch failing; retrying with backoff", where: failing) == 1)

            // Later, the pods watch is refused after a reconnection (an API server restart with a
            // changed role): counted, and logged once more; then it recovers, and says so.
            api.configure { $0.forbidden = ["daemonsets", "pods"] }
            api.dropWatches()
            let pods: ([String: String]) -> Bool = { $0["k8s.resource"] == "pods" && $0["k8s.state"] == "forbidden" }
            #expect(
                await eventually(within: 30) { logs.count("watch failing; retrying with backoff", where: pods) == 1 })
            #expect(await eventually { await Self.metric(agent, ["resource": "pods", "state": "forbidden"]) == 1 })
            #expect(
                await eventually {
                    api.requestCounts["watch pods", default: 0] + api.requestCounts["list pods", default: 0] >= 8
                })
            #expect(logs.count("watch failing; retrying with backoff", where: pods) == 1)
            api.configure { $0.forbidden = ["daemonsets"] }
            #expect(
                await eventually(within: 30) {
                    logs.count("watch recovered", where: { $0["k8s.resource"] == "pods" }) == 1
                })
            await agent.shutdown()
            try await group.waitForAll()
        }
        try await api.shutdown()
        try await proxies.shutdown()
        try await collector.shutdown()
    }

    static func metric(_ agent: Agent, _ labels: [String: String]) async -> Double? {
        guard
            let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(agent.adminPort)/metrics"), timeout: .seconds(5)),
            let body = try? await response.body.collect(upTo: 1 << 20),
            let page = try? ParsedPage.parse(Array(body.readableBytesView))
        else { return nil }
        return page.samples.first { sample in
            sample.name == "fathom_kubernetes_resource_state"
                && Dictionary(uniqueKeysWithValues: sample.labels.map { ($0.name, $0.value) }) == labels
        }?.value
    }
}
