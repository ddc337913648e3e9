import AgentApp
import AgentConfiguration
import AgentTestSupport
import Foundation
import KubernetesAPI
import KubernetesModels
import LocalServers
import Logging
import ProxySimulation
import ReportProtos
import Synchronization
import Testing

/// Daemonset mode with two agents on two nodes: each scrapes only its node's pods (a field
/// selector on the pod watch), one is elected through the Lease and alone reports the inventory.
@Suite struct DaemonSetModeTests {
    /// The demo cluster and its proxies in the fake API, a collector, and agents in daemonset
    /// mode against them, electing a leader through one Lease.
    struct Scene {
        let mesh: SimulatedMesh
        let proxies: SimulatedProxyServers
        let api: FakeKubernetesAPI
        let collector: FakeCollector

        static func start() async throws -> Scene {
            let demo = try await ServedDemoCluster.start()
            return Scene(
                mesh: demo.mesh, proxies: demo.proxies, api: demo.api, collector: try await FakeCollector.start())
        }

        /// An agent on `node`; its identity in the Lease is the node's name.
        func agent(node: String, scrapeTimeout: Double, inventorySnapshotEvery: Int? = nil) throws -> Agent {
            var configuration = AgentConfiguration()
            if let inventorySnapshotEvery { configuration.inventorySnapshotEvery = inventorySnapshotEvery }
            configuration.clusterName = "ds"
            configuration.agentID = "fathom-ds"
            configuration.reportEndpoint = collector.url
            configuration.scrapeInterval = 0.3
            configuration.scrapeTimeout = scrapeTimeout
            configuration.reportInterval = 0.5
            configuration.adminAddress = "127.0.0.1"
            configuration.adminPort = 0
            configuration.tokenFile = ""
            configuration.shutdownGracePeriod = 5
            configuration.nodeName = node
            var environment = AgentEnvironment(connection: api.connection, instanceID: node, targetPublishInterval: 0.1)
            var election = LeaderElectionSettings(namespace: "fathom", leaseName: "fathom-ds-leader", identity: node)
            // Long enough that a busy machine does not make leadership change hands mid-test.
            election.leaseDurationSeconds = 4
            election.renewDeadlineSeconds = 3
            election.retryPeriodSeconds = 0.2
            environment.leaderElection = election
            var logger = Logger(label: "ds")
            logger.logLevel = .critical
            return try Agent(configuration: configuration, environment: environment, logger: logger)
        }

        func shutdown() async throws {
            try await api.shutdown()
            try await proxies.shutdown()
            try await collector.shutdown()
        }
    }

    @Test func eachAgentScrapesItsNodeAndOnlyTheLeaderReportsTheInventory() async throws {
        let scene = try await Scene.start()
        let (api, collector) = (scene.api, scene.collector)
        func agent(node: String) throws -> Agent { try scene.agent(node: node, scrapeTimeout: 0.25) }
        var leaderDuringRun = ""
        let here = try agent(node: "demo-node")
        let elsewhere = try agent(node: "other-node")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await here.run() }
            group.addTask { try await elsewhere.run() }
            #expect(
                await eventually {
                    here.isReady && elsewhere.isReady && here.proxiesScraped == SimulatedMesh.demoPodCount
                })
            #expect(await eventually { here.isLeader != elsewhere.isLeader })
            leaderDuringRun = here.isLeader ? "demo-node" : "other-node"
            #expect(elsewhere.discoveredTargets.isEmpty)
            #expect(here.discoveredTargets.count == SimulatedMesh.demoPodCount)
            // Both have reported, the leader its inventory and the pods' node its routes, before
            // they stop.
            #expect(
                await eventually(within: 60) {
                    let batches = collector.acceptedBatches
                    return Set(batches.map(\.agent.instanceID)) == ["demo-node", "other-node"]
                        && batches.contains(where: \.hasInventory) && batches.contains { !$0.routeMetrics.isEmpty }
                })
            await here.shutdown()
            await elsewhere.shutdown()
            try await group.waitForAll()
        }
        let batches = collector.acceptedBatches
        #expect(Set(batches.map(\.agent.instanceID)) == ["demo-node", "other-node"])
        // Only routes from the node with the pods; the inventory from whichever agent led.
        #expect(batches.filter { $0.agent.instanceID == "other-node" }.allSatisfy { $0.routeMetrics.isEmpty })
        #expect(batches.contains { !$0.routeMetrics.isEmpty })
        #expect(Set(batches.filter(\.hasInventory).map(\.agent.instanceID)) == [leaderDuringRun])
        // The leader handed the lease back on shutdown.
        #expect(api.objects(Lease.self).first?.spec.holderIdentity == "")
        try await scene.shutdown()
    }

    /// The leader's inventory is the cluster's, whichever node it runs on: led first from a
    /// node without pods, it still counts every meshed pod and proxy version; when that leader
    /// stops, the other agent takes the Lease over and reports the same whole inventory, while
    /// each agent goes on scraping only its own node.
    @Test func theLeadersInventoryCoversEveryNodeAcrossALeadershipChange() async throws {
        let scene = try await Scene.start()
        let collector = scene.collector
        let meshed = scene.mesh.proxies.count
        func agent(node: String) throws -> Agent { try scene.agent(node: node, scrapeTimeout: 2) }
        /// Meshed pods and proxy versions counted in the newest full inventory from `node`, and
        /// the control plane's version (its pods run on demo-node only).
        func counted(by node: String) -> (meshed: Int, versions: Int, controlPlane: String)? {
            let full = collector.acceptedBatches.last {
                $0.agent.instanceID == node && $0.hasInventory && $0.inventory.kind == .full
            }
            guard let inventory = full?.inventory else { return nil }
            var pods = 0
            for workload in inventory.upserted { pods += Int(workload.meshedPods) }
            var versions = 0
            for version in inventory.proxyVersions { versions += Int(version.pods) }
            return (pods, versions, inventory.controlPlane.version)
        }
        let bare = try agent(node: "other-node")
        let busy = try agent(node: "demo-node")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await bare.run() }
            #expect(await eventually(within: 30) { bare.isLeader })
            group.addTask { try await busy.run() }
            #expect(await eventually(within: 30) { busy.isReady && busy.proxiesScraped == meshed })
            #expect(!busy.isLeader)
            // The leader on the node without pods reports them all, and scrapes none.
            #expect(
                await eventually(within: 30) {
                    counted(by: "other-node").map { $0 == (meshed, meshed, DemoCluster.controlPlaneVersion) } ?? false
                },
                "\(String(describing: counted(by: "other-node")))")
            #expect(bare.discoveredTargets.isEmpty)
            // It stops and hands the Lease back; the other takes over with the same inventory.
            await bare.shutdown()
            #expect(await eventually(within: 30) { busy.isLeader })
            #expect(
                await eventually(within: 30) {
                    counted(by: "demo-node").map { $0 == (meshed, meshed, DemoCluster.controlPlaneVersion) } ?? false
                },
                "\(String(describing: counted(by: "demo-node")))")
            // Leading, it still scrapes only its own node's pods.
            #expect(busy.discoveredTargets.count == meshed)
            await busy.shutdown()
            try await group.waitForAll()
        }
        try await scene.shutdown()
    }

    /// A leader that loses the Lease (another candidate took it) and later regains it starts
    /// its new term with a full inventory: the SaaS had the other leader's meanwhile, so changes
    /// against what this agent sent last would be wrong. And that inventory is the cluster's as it
    /// is now: a pod deleted while the agent followed (watching only its own, empty node) is gone.
    @Test func aLeaderRegainingTheLeaseStartsWithAFullInventoryOfTheClusterAsItIsNow() async throws {
        let scene = try await Scene.start()
        let (api, collector) = (scene.api, scene.collector)
        let meshed = scene.mesh.proxies.count
        // Never a periodic snapshot in this test: only a new term can make one. Its node has no pods.
        let agent = try scene.agent(node: "other-node", scrapeTimeout: 2, inventorySnapshotEvery: 100_000)
        func inventories() -> [(kind: Fathom_Agent_V1_Inventory.Kind, meshed: Int)] {
            collector.acceptedBatches.filter(\.hasInventory).map { batch in
                (batch.inventory.kind, batch.inventory.upserted.reduce(0) { $0 + Int($1.meshedPods) })
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            #expect(await eventually(within: 30) { agent.isLeader && inventories().count == 1 })
            #expect(inventories().first.map { $0.kind == .full && $0.meshed == meshed } == true, "\(inventories())")
            // Another candidate takes the Lease over and renews it until the pod below is
            // deleted (so the deletion happens while the agent follows, however slow the machine),
            // then dies: it never renews again.
            let (podLists, podWatches) = (api.requestCounts["list pods"] ?? 0, api.requestCounts["watch pods"] ?? 0)
            let taken = try #require(api.objects(Lease.self).first)
            let phantomRenews = Mutex(true)
            let phantom = Task {
                while phantomRenews.withLock({ $0 }) {
                    var lease = taken
                    lease.spec.holderIdentity = "phantom"
                    lease.spec.renewTime = LeaderElectionState.microTime(Date().timeIntervalSince1970)
                    api.apply(lease)
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
            #expect(await eventually(within: 30) { !agent.isLeader })
            let lost = collector.acceptedBatches.count
            // Following, it watches its own node only; a pod elsewhere is deleted meanwhile.
            let gone = scene.mesh.proxies[0]
            // The deletion comes once the follower's own-node list is done and its watch open.
            #expect(
                await eventually(within: 30) {
                    api.requestCounts["list pods"] ?? 0 > podLists && api.requestCounts["watch pods"] ?? 0 > podWatches
                })
            #expect(api.delete(Pod.self, namespace: gone.workload.namespace, name: gone.podName))
            #expect(!agent.isLeader, "the pod must go while the agent follows")
            phantomRenews.withLock { $0 = false }
            await phantom.value
            #expect(await eventually(within: 30) { agent.isLeader })
            #expect(await eventually(within: 30) { inventories().count == 2 }, "\(inventories())")
            #expect(inventories().map(\.kind) == [.full, .full])
            #expect(inventories().last?.meshed == meshed - 1, "\(inventories())")
            // While it followed, its batches carried no inventory.
            #expect(collector.acceptedBatches.count > lost)
            await agent.shutdown()
            try await group.waitForAll()
        }
        try await scene.shutdown()
    }
}
