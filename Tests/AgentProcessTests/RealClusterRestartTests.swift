import AgentTestSupport
import Foundation
import LocalServers
import ProxySimulation
import ReportProtos
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built agent started again and again against a real control plane at rest (a Deployment,
/// a StatefulSet and a DaemonSet, each rolled out once before, the DaemonSet's generation ahead
/// of its revision), then restarted in the middle of a rollout. Its six first lists complete in
/// whatever order the API server answers them: no start may invent a transition (before, about
/// half of them invented a StatefulSet or DaemonSet rollout), and the agent started mid-rollout
/// reports the rollout's end with where it came from, never its start.
@Suite struct RealClusterRestartTests {
    @Test func anAgentRestartedAtRestOrMidRolloutInventsNoTransition() async throws {
        let assets: RealCluster.Assets
        switch RealCluster.Assets.find() {
        case .success(let found): assets = found
        case .failure(let unavailable):
            let required = ProcessInfo.processInfo.environment["FATHOM_REQUIRE_ORACLES"] == "1"
            #expect(!required, "FATHOM_REQUIRE_ORACLES is set but there is \(unavailable)")
            print("RealClusterRestartTests: skipped, \(unavailable)")
            return
        }
        let cluster = try await RealCluster.start(assets)
        let kubelet = StandInKubelet(cluster: cluster)
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let proxies = try await SimulatedProxyServers.start(mesh: .demo(startedAt: now()), now: now)
        let collector = try await FakeCollector.start()
        do {
            try await Self.scenario(cluster, kubelet, proxies: proxies.ports, collector: collector)
        } catch {
            Issue.record(error, "controller-manager log:\n\(cluster.log("controller-manager"))")
        }
        await kubelet.stop()
        await cluster.stop()
        try await proxies.shutdown()
        try await collector.shutdown()
    }

    static func scenario(
        _ cluster: RealCluster, _ kubelet: StandInKubelet, proxies: [Int], collector: FakeCollector
    ) async throws {
        let manifests = try RealClusterTests.chartManifests()
        let serviceAccount = try #require(manifests.first { $0["kind"] as? String == "ServiceAccount" })
        let namespace = try #require((serviceAccount["metadata"] as? [String: Any])?["namespace"] as? String)
        let accountName = try #require((serviceAccount["metadata"] as? [String: Any])?["name"] as? String)
        for name in [namespace, "linkerd", "shop"] {
            try await cluster.create(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": name]])
        }
        for kind in ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"] {
            try await cluster.create(try #require(manifests.first { $0["kind"] as? String == kind }))
        }
        // The node the stand-in kubelet binds every pod to: the DaemonSet controller needs it.
        try await cluster.create([
            "apiVersion": "v1", "kind": "Node", "metadata": ["name": StandInKubelet.node, "labels": ["zone": "a"]],
        ])
        // The API server taints a new node not-ready (NoSchedule), which DaemonSet pods do not
        // tolerate; without a node lifecycle controller the taint stays unless removed, and the
        // node says it is ready as a kubelet would.
        _ = try await cluster.request(
            .PATCH, "/api/v1/nodes/\(StandInKubelet.node)", json: ["spec": ["taints": NSNull()]],
            contentType: "application/merge-patch+json")
        _ = try await cluster.request(
            .PATCH, "/api/v1/nodes/\(StandInKubelet.node)/status",
            json: ["status": ["conditions": [["type": "Ready", "status": "True", "reason": "KubeletReady"]]]],
            contentType: "application/merge-patch+json")
        kubelet.start()
        try await RealClusterTests.createWhenAccountsExist(
            cluster, RealClusterTests.controlPlanePod(adminPort: proxies[1]))
        var web = RealClusterTests.deployment("web", replicas: 3, image: "shop/web:1.0", adminPort: proxies[0])
        // Each new pod must stay ready 4 s before the next is replaced: a rollout long enough to
        // restart the agent in.
        if var spec = web["spec"] as? [String: Any] {
            spec["minReadySeconds"] = 4
            spec["strategy"] = ["rollingUpdate": ["maxSurge": 1, "maxUnavailable": 0]]
            web["spec"] = spec
        }
        try await cluster.create(web)
        try await cluster.create(Self.workload("StatefulSet", "db", image: "shop/db:15", adminPort: proxies[2]))
        try await cluster.create(
            Self.workload("DaemonSet", "node-agent", image: "shop/agent:3.1", adminPort: proxies[3]))

        // Each rolled out once; the DaemonSet edited besides (generation 3, revision 2).
        try await Self.settled(cluster)
        try await cluster.patch("/apis/apps/v1/namespaces/shop/statefulsets/db", Self.image("db", "shop/db:16"))
        try await cluster.patch(
            "/apis/apps/v1/namespaces/shop/daemonsets/node-agent", Self.image("node-agent", "shop/agent:3.2"))
        try await cluster.patch("/apis/apps/v1/namespaces/shop/daemonsets/node-agent", ["spec": ["minReadySeconds": 1]])
        try await Self.settled(cluster)

        let token = try await cluster.token(namespace: namespace, serviceAccount: accountName)
        let config = try Self.agentConfiguration(cluster, token: token, namespace: namespace, collector: collector)

        // At rest: every start reports the workloads and no transition.
        for run in 1...4 {
            let agent = try AgentSubprocess.start("fathom-agent", ["run", "--config", config])
            defer { agent.kill() }
            let instance = try await Self.instance(of: agent, in: collector, batches: 3)
            let events = collector.acceptedBatches.filter { $0.agent.instanceID == instance }.flatMap(\.rolloutEvents)
            #expect(events.isEmpty, "start \(run) invented: \(events.map { "\($0.workload.name) \($0.phase)" })")
            let full = collector.acceptedBatches.first { $0.agent.instanceID == instance && $0.inventory.kind == .full }
            let names = Set(full?.inventory.upserted.map(\.ref.name) ?? [])
            #expect(names.isSuperset(of: ["web", "db", "node-agent"]), "start \(run): \(names.sorted())")
            agent.signal(SIGTERM)
            #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        }

        // Mid-rollout: the agent that saw the start stops; the next one takes the rollout up.
        let first = try AgentSubprocess.start("fathom-agent", ["run", "--config", config])
        defer { first.kill() }
        let firstInstance = try await Self.instance(of: first, in: collector, batches: 1)
        try await cluster.patch("/apis/apps/v1/namespaces/shop/deployments/web", RealClusterTests.image("shop/web:2.0"))
        let startedSeen = await eventually(within: 60) {
            Self.events(collector, firstInstance, "web").contains { $0.phase == .started }
        }
        #expect(startedSeen, "\(first.errors.suffix(2_000))")
        let started = try #require(Self.events(collector, firstInstance, "web").first { $0.phase == .started })
        first.signal(SIGTERM)
        #expect(await first.exitStatus(within: 30) == 0, "\(first.errors)")
        let second = try AgentSubprocess.start("fathom-agent", ["run", "--config", config])
        defer { second.kill() }
        let secondInstance = try await Self.instance(of: second, in: collector, batches: 1)
        #expect(
            await eventually(within: 90) {
                Self.events(collector, secondInstance, "web").contains { $0.phase == .completed }
            }, "\(Self.events(collector, firstInstance, "web")) then \(Self.events(collector, secondInstance, "web"))")
        let taken = Self.events(collector, secondInstance, "web")
        #expect(!taken.contains { $0.phase == .started || $0.phase == .rolledBack }, "\(taken)")
        let completed = try #require(taken.first { $0.phase == .completed })
        #expect(completed.fromRevision == started.fromRevision && completed.toRevision == started.toRevision)
        #expect(completed.fromImages == started.fromImages, "\(completed.fromImages)")
        #expect(completed.startedUnixMs > 0)
        // The second agent's inventory names the same rollout.
        let state = collector.acceptedBatches.last { $0.agent.instanceID == secondInstance && $0.hasInventory }?
            .inventory.upserted.first { $0.ref.name == "web" }?.rollout
        #expect(state?.fromRevision == started.fromRevision, "\(String(describing: state))")
        second.signal(SIGTERM)
        #expect(await second.exitStatus(within: 30) == 0, "\(second.errors)")
    }

    /// The events one agent instance reported for a workload.
    static func events(_ collector: FakeCollector, _ instance: String, _ workload: String)
        -> [Fathom_Agent_V1_RolloutEvent]
    {
        collector.acceptedBatches.filter { $0.agent.instanceID == instance }.flatMap(\.rolloutEvents).filter {
            $0.workload.name == workload
        }
    }

    /// The instance id of a freshly started agent, once the collector has `batches` of its
    /// batches, the first with its full inventory.
    static func instance(of agent: AgentSubprocess, in collector: FakeCollector, batches: Int) async throws -> String {
        let known = Set(collector.acceptedBatches.map(\.agent.instanceID))
        var instance: String?
        let arrived = await eventually(within: 90) {
            let mine = collector.acceptedBatches.filter { !known.contains($0.agent.instanceID) }
            instance = mine.first?.agent.instanceID
            return mine.count >= batches && mine.contains { $0.inventory.kind == .full }
        }
        #expect(arrived, "\(agent.errors.suffix(3_000))")
        return try #require(instance)
    }

    /// Waits until no pod of the shop is pending or terminating and every workload's status
    /// has caught up with its spec.
    static func settled(_ cluster: RealCluster) async throws {
        var waiting = ""
        let done = await eventually(within: 120) {
            guard let (_, body) = try? await cluster.request(.GET, "/api/v1/namespaces/shop/pods"),
                let pods = (body as? [String: Any])?["items"] as? [[String: Any]]
            else { return false }
            let busy = pods.filter { pod in
                (pod["metadata"] as? [String: Any])?["deletionTimestamp"] != nil
                    || (pod["status"] as? [String: Any])?["phase"] as? String != "Running"
            }
            waiting = "\(pods.count) pods, busy: \(busy.compactMap { ($0["metadata"] as? [String: Any])?["name"] })"
            guard busy.isEmpty, pods.count >= 6 else { return false }
            for (plural, name) in [("deployments", "web"), ("statefulsets", "db"), ("daemonsets", "node-agent")] {
                guard
                    let (_, object) = try? await cluster.request(
                        .GET, "/apis/apps/v1/namespaces/shop/\(plural)/\(name)"),
                    let object = object as? [String: Any],
                    let generation = (object["metadata"] as? [String: Any])?["generation"] as? Int,
                    let status = object["status"] as? [String: Any],
                    status["observedGeneration"] as? Int == generation
                else {
                    waiting = "\(plural)/\(name) not observed"
                    return false
                }
                if plural == "statefulsets", status["currentRevision"] as? String != status["updateRevision"] as? String
                {
                    waiting = "statefulset: \(status)"
                    return false
                }
                if plural == "daemonsets",
                    status["updatedNumberScheduled"] as? Int != status["desiredNumberScheduled"] as? Int
                {
                    waiting = "daemonset: \(status)"
                    return false
                }
            }
            return true
        }
        #expect(done, "the shop did not settle: \(waiting)")
        try #require(done)
    }

    /// A meshed StatefulSet (2 replicas) or DaemonSet whose proxies answer on one simulated port.
    static func workload(_ kind: String, _ name: String, image: String, adminPort: Int) -> [String: Any] {
        var spec: [String: Any] = [
            "selector": ["matchLabels": ["app": name]],
            "template": [
                "metadata": [
                    "labels": ["app": name, "linkerd.io/control-plane-ns": "linkerd"],
                    "annotations": [
                        "linkerd.io/proxy-version": RealClusterTests.dataPlaneVersion,
                        "config.linkerd.io/admin-port": String(adminPort),
                    ],
                ],
                "spec": [
                    "containers": [
                        ["name": name, "image": image],
                        RealClusterTests.proxyContainer(version: RealClusterTests.dataPlaneVersion),
                    ]
                ],
            ],
        ]
        if kind == "StatefulSet" {
            spec["replicas"] = 2
            spec["serviceName"] = name
        }
        return [
            "apiVersion": "apps/v1", "kind": kind, "metadata": ["name": name, "namespace": "shop"], "spec": spec,
        ]
    }

    /// A strategic merge patch setting container `name`'s image.
    static func image(_ name: String, _ image: String) -> [String: Any] {
        ["spec": ["template": ["spec": ["containers": [["name": name, "image": image]]]]]]
    }

    static func agentConfiguration(
        _ cluster: RealCluster, token: String, namespace: String, collector: FakeCollector
    ) throws -> String {
        let kubeconfig = cluster.directory + "/restart.kubeconfig"
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: real, cluster: {server: "\(cluster.server)", certificate-authority: "\(cluster.directory)/ca.crt"}}]
        users: [{name: fathom, user: {token: "\(token)"}}]
        contexts: [{name: real, context: {cluster: real, user: fathom, namespace: \(namespace)}}]
        current-context: real
        """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        let config = cluster.directory + "/restart.yaml"
        try """
        cluster: {name: real-cluster-test}
        agent: {id: fathom-real}
        kubernetes: {kubeconfig: "\(kubeconfig)"}
        report: {endpoint: "\(collector.url)", interval: 5s, requestTimeout: 2s, tokenFile: ""}
        scrape: {interval: 1s, timeout: 800ms}
        admin: {address: 127.0.0.1, port: 0}
        shutdown: {gracePeriod: 5s}
        logging: {level: info, format: json}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }
}
