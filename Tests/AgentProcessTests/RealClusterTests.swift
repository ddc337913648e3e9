import AgentTestSupport
import Foundation
import LocalServers
import NIOHTTP1
import ProxySimulation
import ReportProtos
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `fathom-agent` against a real control plane (`RealCluster`: etcd, kube-apiserver and
/// kube-controller-manager v1.28.7), with the chart's RBAC rendered by the Helm engine and a
/// ServiceAccount token from the TokenRequest API, as an install gets them. The controllers make
/// the ReplicaSets, pods and rollout status; `StandInKubelet` schedules and runs the pods. What
/// is checked is what the SaaS receives and what `/readyz`, `/metrics` and the log say.
@Suite struct RealClusterTests {
    static let controlPlaneVersion = "edge-24.11.8"
    static let dataPlaneVersion = "edge-24.10.1"

    @Test func inventoryRolloutUndoEvictionForbiddenResourceAndAnAPIServerRestart() async throws {
        let assets: RealCluster.Assets
        switch RealCluster.Assets.find() {
        case .success(let found): assets = found
        case .failure(let unavailable):
            let required = ProcessInfo.processInfo.environment["FATHOM_REQUIRE_ORACLES"] == "1"
            #expect(!required, "FATHOM_REQUIRE_ORACLES is set but there is \(unavailable)")
            print("RealClusterTests: skipped, \(unavailable)")
            return
        }
        let cluster = try await RealCluster.start(assets)
        let kubelet = StandInKubelet(cluster: cluster)
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let proxies = try await SimulatedProxyServers.start(mesh: .demo(startedAt: now()), now: now)
        let collector = try await FakeCollector.start()
        var agent: AgentSubprocess?
        do {
            try await Self.scenario(cluster, kubelet, proxies: proxies.ports, collector: collector) { agent = $0 }
        } catch {
            Issue.record(error, "controller-manager log:\n\(cluster.log("controller-manager"))")
        }
        agent?.kill()
        await kubelet.stop()
        await cluster.stop()
        try await proxies.shutdown()
        try await collector.shutdown()
    }

    /// The scenario, in the order a user would meet it.
    static func scenario(
        _ cluster: RealCluster, _ kubelet: StandInKubelet, proxies: [Int], collector: FakeCollector,
        started: (AgentSubprocess) -> Void
    ) async throws {
        // 1. The chart's RBAC, as `helm install` applies it, but with `daemonsets` left out of the role.
        let manifests = try Self.chartManifests()
        let role = try #require(manifests.first { $0["kind"] as? String == "ClusterRole" })
        let serviceAccount = try #require(manifests.first { $0["kind"] as? String == "ServiceAccount" })
        let namespace = try #require((serviceAccount["metadata"] as? [String: Any])?["namespace"] as? String)
        let accountName = try #require((serviceAccount["metadata"] as? [String: Any])?["name"] as? String)
        for name in [namespace, "linkerd", "shop"] {
            try await cluster.create(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": name]])
        }
        try await cluster.create(serviceAccount)
        try await cluster.create(Self.withoutDaemonSets(role))
        try await cluster.create(try #require(manifests.first { $0["kind"] as? String == "ClusterRoleBinding" }))
        // The chart's Role for the trust anchors, in the control-plane namespace; the ConfigMap it
        // names, and another the agent must not read.
        try await cluster.create(try #require(manifests.first { $0["kind"] as? String == "Role" }))
        try await cluster.create(try #require(manifests.first { $0["kind"] as? String == "RoleBinding" }))
        let anchor = try SelfSignedAuthority.pem(commonName: "root.linkerd.cluster.local", untilDays: 365)
        for (name, data) in [
            ("linkerd-identity-trust-roots", ["ca-bundle.crt": anchor + "\n"]),
            ("linkerd-config", ["values": "identityTrustAnchorsPEM: x\n"]),
        ] {
            try await cluster.create([
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": name, "namespace": "linkerd"],
                "data": data,
            ])
        }

        // 2. A control plane and a meshed Deployment; the stand-in kubelet runs their pods.
        kubelet.start()
        try await Self.createWhenAccountsExist(cluster, Self.controlPlanePod(adminPort: proxies[1]))
        try await cluster.create(Self.deployment("web", replicas: 3, image: "shop/web:1.0", adminPort: proxies[0]))

        // 3. The agent, with the ServiceAccount's token in its kubeconfig.
        let token = try await cluster.token(namespace: namespace, serviceAccount: accountName)
        let kubeconfig = cluster.directory + "/agent.kubeconfig"
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: real, cluster: {server: "\(cluster.server)", certificate-authority: "\(cluster.directory)/ca.crt"}}]
        users: [{name: fathom, user: {token: "\(token)"}}]
        contexts: [{name: real, context: {cluster: real, user: fathom, namespace: \(namespace)}}]
        current-context: real
        """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        try "collector-token\n".write(toFile: cluster.directory + "/collector-token", atomically: true, encoding: .utf8)
        let config = cluster.directory + "/config.yaml"
        try """
        cluster: {name: real-cluster-test}
        agent: {id: fathom-real}
        kubernetes: {kubeconfig: "\(kubeconfig)"}
        report: {endpoint: "\(collector.url)", interval: 5s, requestTimeout: 2s, tokenFile: "\(cluster.directory)/collector-token"}
        scrape: {interval: 1s, timeout: 800ms}
        admin: {address: 127.0.0.1, port: 0}
        logging: {level: info, format: json}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try AgentSubprocess.start("fathom-agent", ["run", "--config", config])
        started(agent)
        func reported() -> ReportedCluster { ReportedCluster(collector.acceptedBatches) }

        // 4. A forbidden resource: ready all the same, /readyz says what is not watched, health
        // and /metrics say forbidden, the log says it once; the rest is scraped and reported.
        #expect(
            await eventually(within: 60) { (try? await agent.get("/readyz"))?.status == 200 }, "\(agent.errors)")
        #expect(try await agent.get("/readyz").body == "ready; not watched: daemonsets (forbidden)\n")
        #expect(
            await agent.metric("fathom_kubernetes_resource_state", ["resource": "daemonsets", "state": "forbidden"])
                == 1)
        #expect(
            await eventually(within: 30) {
                collector.acceptedBatches.last?.health.resources.first { $0.resource == "daemonsets" }?.state
                    == .forbidden
            })
        let failingDaemonSets = { (line: [String: String]) in line["k8s.resource"] == "daemonsets" }
        #expect(agent.logs("watch failing; retrying with backoff").filter(failingDaemonSets).count == 1)

        // The role is fixed: the agent finds out by itself, logs the recovery, and health follows.
        try await cluster.replace(role)
        #expect(
            await eventually(within: 60) {
                await agent.metric("fathom_kubernetes_resource_state", ["resource": "daemonsets", "state": "synced"])
                    == 1
            }, "\(agent.errors)")
        #expect(agent.logs("watch recovered").filter(failingDaemonSets).count == 1)
        #expect(try await agent.get("/readyz").body == "ready\n")

        // 5. The inventory: three meshed pods, all with an outdated proxy; the control plane's version.
        #expect(
            await eventually(within: 60) {
                let web = reported().workloads["shop/web"]
                return web?.meshedPods == 3 && web?.replicasReady == 3 && web?.podsWithOutdatedProxy.count == 3
            }, "\(reported().workloads)")
        #expect(reported().controlPlane?.version == Self.controlPlaneVersion)
        #expect(reported().controlPlane?.pods.map(\.component) == ["destination"])
        #expect(await eventually(within: 30) { await agent.metric("fathom_targets") == 4 })
        #expect(
            Set(reported().workloads["shop/web"]?.podsWithOutdatedProxy ?? [])
                == Set(try await cluster.runningPods("shop", app: "web")))

        // 5b. The trust anchors, read under the chart's by-name Role: the agent's checks have them,
        // and the Role admits that one ConfigMap (by name, or listed with a field selector naming
        // it) and nothing else in the namespace, never a Secret.
        func trustCheck() async -> [String: Any]? {
            guard let mesh = try? await agent.get("/debug/mesh"),
                let object = try? JSONSerialization.jsonObject(with: Data(mesh.body.utf8)) as? [String: Any],
                let checks = object["checks"] as? [[String: Any]]
            else { return nil }
            return checks.first { $0["id"] as? String == "trust-anchors-valid" }
        }
        var trust: [String: Any] = [:]
        #expect(
            await eventually(within: 60) {
                trust = await trustCheck() ?? [:]
                return !trust.isEmpty
            }, "\(agent.errors)")
        #expect(trust["status"] as? String == "ok", "\(trust)")
        #expect(agent.logs("cannot read the mesh's trust anchors").isEmpty, "\(agent.errors)")
        #expect(agent.logs("read the mesh's trust anchors").last?["subjects"] == "CN=root.linkerd.cluster.local")
        let user = "system:serviceaccount:\(namespace):\(accountName)"
        let configMaps = "/api/v1/namespaces/linkerd/configmaps"
        let selector = "?fieldSelector=metadata.name%3Dlinkerd-identity-trust-roots"
        #expect(try await cluster.request(.GET, configMaps + "/linkerd-identity-trust-roots", as: user).status == 200)
        #expect(try await cluster.request(.GET, configMaps + selector, as: user).status == 200)
        #expect(try await cluster.request(.GET, configMaps + "/linkerd-config", as: user).status == 403)
        #expect(try await cluster.request(.GET, configMaps, as: user).status == 403)
        #expect(try await cluster.request(.GET, "/api/v1/namespaces/linkerd/secrets", as: user).status == 403)
        #expect(try await cluster.request(.GET, "/api/v1/secrets", as: user).status == 403)

        // 6. A rollout (a new image), then its undo (the old template again, as `kubectl rollout
        // undo` writes it): STARTED and COMPLETED for revision 2, then ROLLED_BACK to revision 3.
        try await cluster.patch("/apis/apps/v1/namespaces/shop/deployments/web", Self.image("shop/web:2.0"))
        #expect(
            await eventually(within: 90) {
                reported().events(of: "shop/web").contains { $0.phase == .completed && $0.toRevision == "2" }
            }, "\(reported().events(of: "shop/web"))")
        let rollout = reported().events(of: "shop/web").filter { $0.toRevision == "2" }
        let first = try #require(rollout.first)
        #expect(first.phase == .started && first.fromRevision == "1" && first.toRevision == "2")
        #expect(
            first.fromImages.contains("shop/web:1.0") && first.toImages.contains("shop/web:2.0"),
            "\(reported().events(of: "shop/web"))")
        try await cluster.patch("/apis/apps/v1/namespaces/shop/deployments/web", Self.image("shop/web:1.0"))
        #expect(
            await eventually(within: 90) {
                reported().events(of: "shop/web").contains { $0.phase == .rolledBack && $0.toRevision == "3" }
            }, "\(reported().events(of: "shop/web"))")
        #expect(
            await eventually(within: 60) {
                let web = reported().workloads["shop/web"]
                return web?.rollout.phase == .complete && web?.replicasUpdated == 3 && web?.replicasAvailable == 3
            }, "\(reported().workloads["shop/web"].map { "\($0)" } ?? "no web")")
        #expect(!reported().events(of: "shop/web").contains { $0.phase == .failed })
        #expect(reported().events(of: "shop/web").filter { $0.phase == .started }.count == 1)

        // 7. Two pods evicted: the ReplicaSet replaces them; the evicted pods stay, counted by
        // phase and reason, never meshed, never in the outdated-proxy list, never scraped.
        let running = try await cluster.runningPods("shop", app: "web")
        for name in running.prefix(2) { try await kubelet.evict(namespace: "shop", name: name) }
        #expect(
            await eventually(within: 60) {
                let web = reported().workloads["shop/web"]
                return web?.podPhases.first { $0.name == "Failed" }?.count == 2 && web?.meshedPods == 3
                    && web?.replicasReady == 3
            }, "\(reported().workloads["shop/web"].map { "\($0)" } ?? "no web")")
        let web = try #require(reported().workloads["shop/web"])
        #expect(web.failedPodReasons.map { "\($0.name)=\($0.count)" } == ["Evicted=2"])
        #expect(web.podPhases.first { $0.name == "Running" }?.count == 3)
        #expect(Set(web.podsWithOutdatedProxy) == Set(try await cluster.runningPods("shop", app: "web")))
        #expect(Set(web.podsWithOutdatedProxy).isDisjoint(with: running.prefix(2)))
        #expect(await eventually(within: 30) { await agent.metric("fathom_targets") == 4 })

        // 8. The API server is killed, etcd compacted, the API server started again: resuming a
        // watch gets 410 Gone, the agent lists again, and sees what changed after.
        try await cluster.create([
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "bump", "namespace": "shop"],
        ])
        cluster.killAPIServer()
        try cluster.compactEtcd()
        try await cluster.startAPIServer()
        #expect(
            await eventually(within: 90) {
                await agent.metric("fathom_kubernetes_watch_restarts_total", ["resource": "pods", "reason": "relist"])
                    ?? 0 >= 1
            }, "\(agent.errors)")
        try await cluster.create(Self.deployment("api", replicas: 2, image: "shop/api:1.0", adminPort: proxies[2]))
        #expect(
            await eventually(within: 90) { reported().workloads["shop/api"]?.meshedPods == 2 },
            "\(reported().workloads.keys.sorted())")
        #expect(await eventually(within: 30) { await agent.metric("fathom_targets") == 6 })
        #expect(
            await eventually(within: 30) {
                collector.acceptedBatches.last?.health.resources.allSatisfy {
                    $0.state == .synced || ($0.resource == "rollouts" && $0.state == .notInstalled)
                } ?? false
            }, "\(collector.acceptedBatches.last?.health.resources ?? [])")

        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        let sequences = collector.acceptedBatches.map(\.sequence)
        #expect(sequences == Array(1...UInt64(sequences.count)), "each batch delivered once, in order")
    }

    // MARK: - Objects

    /// The chart's manifests for the smallest install.
    static func chartManifests() throws -> [[String: Any]] {
        let render = try HelmChart.render([
            "config": [
                "cluster": ["name": "real-cluster-test"],
                "report": ["endpoint": "https://ingest.example.com/v1/reports"],
            ],
            "apiToken": ["value": "t0k3n"],
        ])
        return render["manifests"] as? [[String: Any]] ?? []
    }

    /// The role without `daemonsets`, as an operator trimming it by hand might leave it.
    static func withoutDaemonSets(_ role: [String: Any]) -> [String: Any] {
        var trimmed = role
        trimmed["rules"] = (role["rules"] as? [[String: Any]] ?? []).map { rule in
            var rule = rule
            rule["resources"] = (rule["resources"] as? [String] ?? []).filter { $0 != "daemonsets" }
            return rule
        }
        return trimmed
    }

    /// A pod can be created only once its namespace's `default` ServiceAccount exists (the
    /// controller manager makes it a moment after the namespace).
    static func createWhenAccountsExist(_ cluster: RealCluster, _ object: [String: Any]) async throws {
        var lastError: (any Error)?
        let created = await eventually(within: 30) {
            do {
                try await cluster.create(object)
                return true
            } catch {
                lastError = error
                try? await Task.sleep(for: .milliseconds(200))
                return false
            }
        }
        if !created, let lastError { throw lastError }
    }

    static func proxyContainer(version: String) -> [String: Any] {
        [
            "name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:\(version)",
            "ports": [["name": "linkerd-admin", "containerPort": 4191]],
        ]
    }

    static func controlPlanePod(adminPort: Int) -> [String: Any] {
        [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": [
                "name": "linkerd-destination-6b8f9c7d5-wq2lz", "namespace": "linkerd",
                "labels": [
                    "linkerd.io/control-plane-component": "destination", "linkerd.io/control-plane-ns": "linkerd",
                ],
                "annotations": [
                    "linkerd.io/proxy-version": controlPlaneVersion, "config.linkerd.io/admin-port": String(adminPort),
                ],
            ],
            "spec": [
                "containers": [
                    ["name": "destination", "image": "cr.l5d.io/linkerd/controller:\(controlPlaneVersion)"],
                    proxyContainer(version: controlPlaneVersion),
                ]
            ],
        ]
    }

    /// A meshed Deployment whose proxies all answer on one simulated proxy's port.
    static func deployment(_ name: String, replicas: Int, image: String, adminPort: Int) -> [String: Any] {
        [
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ["name": name, "namespace": "shop"],
            "spec": [
                "replicas": replicas, "selector": ["matchLabels": ["app": name]],
                "template": [
                    "metadata": [
                        "labels": ["app": name, "linkerd.io/control-plane-ns": "linkerd"],
                        "annotations": [
                            "linkerd.io/proxy-version": dataPlaneVersion,
                            "config.linkerd.io/admin-port": String(adminPort),
                        ],
                    ],
                    "spec": [
                        "containers": [
                            ["name": name, "image": image],
                            proxyContainer(version: dataPlaneVersion),
                        ]
                    ],
                ],
            ],
        ]
    }

    /// A strategic merge patch setting the `web` container's image.
    static func image(_ image: String) -> [String: Any] {
        ["spec": ["template": ["spec": ["containers": [["name": "web", "image": image]]]]]]
    }
}

/// What the collector was told, folded: full inventories replace, deltas update; rollout events
/// in order.
struct ReportedCluster {
    var workloads: [String: Fathom_Agent_V1_Workload] = [:]
    var controlPlane: Fathom_Agent_V1_ControlPlane?
    var rolloutEvents: [Fathom_Agent_V1_RolloutEvent] = []

    init(_ batches: [Fathom_Agent_V1_ReportBatch]) {
        for batch in batches {
            if batch.hasInventory {
                let inventory = batch.inventory
                if inventory.kind == .full { workloads = [:] }
                for workload in inventory.upserted {
                    workloads["\(workload.ref.namespace)/\(workload.ref.name)"] = workload
                }
                for ref in inventory.deleted { workloads["\(ref.namespace)/\(ref.name)"] = nil }
                if inventory.hasControlPlane { controlPlane = inventory.controlPlane }
            }
            rolloutEvents += batch.rolloutEvents
        }
    }

    func events(of workload: String) -> [Fathom_Agent_V1_RolloutEvent] {
        rolloutEvents.filter { "\($0.workload.namespace)/\($0.workload.name)" == workload }
    }
}

extension RealCluster {
    /// The names of a Deployment's running pods (by its `app` label), from the API server.
    func runningPods(_ namespace: String, app: String) async throws -> [String] {
        let (_, body) = try await request(.GET, "/api/v1/namespaces/\(namespace)/pods?labelSelector=app%3D\(app)")
        let items = (body as? [String: Any])?["items"] as? [[String: Any]] ?? []
        return items.compactMap { pod in
            guard (pod["status"] as? [String: Any])?["phase"] as? String == "Running",
                (pod["metadata"] as? [String: Any])?["deletionTimestamp"] == nil
            else { return nil }
            return (pod["metadata"] as? [String: Any])?["name"] as? String
        }.sorted()
    }
}
