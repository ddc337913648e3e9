import AgentApp
import AgentTestSupport
import AsyncHTTPClient
import FathomModel
import Foundation
import LocalServers
import PrometheusText
import ProxySimulation
import Testing

/// The proxies' identity certificates, end to end: read from the pages the real `Agent` scrapes,
/// counted by state on its `/metrics` with the earliest expiry, and a proxy whose renewals start
/// failing named once in its log.
@Suite struct CertificateHealthTests {
    static let workload = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")

    /// The agent's own metrics: `name{labels}` → value.
    static func ownMetrics(_ agent: Agent) async -> [String: Double] {
        guard
            let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(agent.adminPort)/metrics"), timeout: .seconds(5)),
            let body = try? await response.body.collect(upTo: 1 << 20),
            let page = try? ParsedPage.parse(Array(body.readableBytesView))
        else { return [:] }
        var values: [String: Double] = [:]
        for sample in page.samples where sample.name.hasPrefix("fathom_mesh_") {
            let labels = sample.labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            values[sample.name + "{" + labels + "}"] = sample.value
        }
        return values
    }

    @Test func aProxyWhoseRenewalsFailIsCountedAndNamed() async throws {
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let started = now().rounded(.down) - 3_600
        let pods = ["web-5d6c7b8a9-a1", "web-5d6c7b8a9-a2", "web-5d6c7b8a9-a3"]
        let mesh = SimulatedMesh(
            proxies: pods.enumerated().map { index, pod in
                // Started an hour apart: their leaves expire an hour apart too.
                SimulatedProxy(
                    podName: pod, podIP: "127.0.0.1", workload: Self.workload, traffic: [],
                    startedAt: started - Double(index) * 3_600, seed: UInt64(index + 1))
            })
        let proxies = try await SimulatedProxyServers.start(mesh: mesh, now: now)
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "certificates"))
        var cluster = DemoCluster()
        cluster.populate(api, mesh: mesh, ports: proxies.ports)
        let collector = try await FakeCollector.start()
        let logs = LogStore()
        let agent = try AgentEndToEndTests.agent(
            api: api, collector: collector, spool: NSTemporaryDirectory() + "fathom-certificates-\(UUID().uuidString)",
            instance: "certificates", grace: 5, logger: logs.logger("certificates", level: .info))
        let failing = "\(Self.workload.namespace)/\(pods[1])"
        let warning = "Proxy's identity certificate is not being renewed: its refreshes fail"
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            // Every proxy valid, the earliest expiry that of the one started first.
            #expect(
                await eventually(within: 60) {
                    let metrics = await Self.ownMetrics(agent)
                    return metrics["fathom_mesh_proxy_certificates{state=valid}"] == 3
                        && metrics["fathom_mesh_proxy_certificate_expiry_earliest_timestamp_seconds{}"]
                            == started - 7_200 + 86_400
                })
            #expect(logs.count(warning) == 0)
            // The identity service starts refusing one proxy's renewals.
            proxies.mesh.withLock { mesh in mesh.proxies[1].failCertificateRefresh() }
            #expect(
                await eventually(within: 60) {
                    let metrics = await Self.ownMetrics(agent)
                    return metrics["fathom_mesh_proxy_certificates{state=refresh_failing}"] == 1
                        && metrics["fathom_mesh_proxy_certificates{state=valid}"] == 2
                        && metrics["fathom_mesh_proxy_certificates{state=expired}"] == 0
                        && metrics["fathom_mesh_proxy_certificates{state=unreported}"] == 0
                })
            // Named once, though every window since finds it failing.
            let windows = collector.acceptedBatches.count
            #expect(await eventually(within: 60) { collector.acceptedBatches.count >= windows + 3 })
            #expect(logs.count(warning) { $0["k8s.pod"] == failing && $0["certificate.refreshes_failed"] == "1" } == 1)
            #expect(logs.count(warning) == 1)
            await agent.shutdown()
            try await group.waitForAll()
        }
        try await api.shutdown()
        try await collector.shutdown()
        try await proxies.shutdown()
    }
}
