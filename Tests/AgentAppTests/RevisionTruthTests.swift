import AgentApp
import AgentTestSupport
import FathomModel
import Foundation
import KubernetesModels
import LocalServers
import ProxySimulation
import RouteAggregation
import Synchronization
import Testing

/// Revision as a dimension, against ground truth per revision: a Deployment rolls out as its
/// controller does it, a new pod of the new ReplicaSet created and an old one deleted, while the
/// real `Agent` scrapes the simulated proxies. Every request, connection and byte each pod's proxy
/// served must reach the collector exactly once, in the row of the revision of the pod that
/// served it; the new revision fails more, and the batches say so.
@Suite struct RevisionTruthTests {
    static let namespace = "shop"
    static let workload = WorkloadRef(kind: "Deployment", namespace: namespace, name: "checkout")
    static let oldSet = "checkout-5d6c7b8a9"
    static let newSet = "checkout-7f8e9d0c1"
    /// The pods and their ReplicaSet's revision: two of the old revision, one of the new.
    static let pods = [("\(oldSet)-a1", "1"), ("\(oldSet)-a2", "1"), ("\(newSet)-b1", "2")]

    /// Calls to payments (endpoint and ServiceProfile route rows) and TCP connections to the
    /// ledger, failing at `failureRate`.
    static func traffic(failureRate: Double) -> [TrafficSpec] {
        [
            TrafficSpec(
                shape: .legacyOutbound(
                    service: ServiceRef(namespace: namespace, name: "payments", port: 80),
                    destination: WorkloadRef(kind: "Deployment", namespace: namespace, name: "payments"),
                    destinationPods: ["payments-6c7d8e9f1-p1"], serviceProfileRoutes: ["POST /pay"]),
                requestsPerSecond: 40, failureRate: failureRate, medianLatencyMilliseconds: 15),
            TrafficSpec(
                shape: .tcpOutbound(
                    service: ServiceRef(namespace: namespace, name: "ledger", port: 5432),
                    destination: WorkloadRef(kind: "StatefulSet", namespace: namespace, name: "ledger"),
                    destinationPods: ["ledger-0"], bytesPerConnection: 500),
                requestsPerSecond: 8, failureRate: failureRate,
                latency: .uniform(lowMilliseconds: 1, highMilliseconds: 1)),
        ]
    }

    @Test func everyRequestInTheRevisionOfThePodThatServedIt() async throws {
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let revisionOfPod = Dictionary(uniqueKeysWithValues: Self.pods)
        let truth = Mutex<[RouteKey: RouteTruth]>([:])
        let mesh = SimulatedMesh(
            proxies: Self.pods.enumerated().map { index, pod in
                SimulatedProxy(
                    podName: pod.0, podIP: "127.0.0.1", workload: Self.workload,
                    traffic: pod.1 == "1" ? Self.traffic(failureRate: 0.02) : [], startedAt: now() - 120,
                    seed: UInt64(40 + index))
            })
        let proxies = try await SimulatedProxyServers.start(mesh: mesh, now: now) { proxy, served in
            truth.withLock { truth in
                for (identity, routeTruth) in served {
                    let key = RouteKey(
                        workload: proxy.workload, revision: revisionOfPod[proxy.podName]!, identity: identity)
                    truth[key, default: RouteTruth()].add(routeTruth)
                }
            }
        }
        proxies.frozen.withLock { $0 = true }
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "revisions"))
        var cluster = DemoCluster()
        cluster.populate(api, mesh: mesh, ports: proxies.ports)
        // The new ReplicaSet is the Deployment's revision 2; its pod is not there yet.
        var newReplicaSet = try #require(api.objects(ReplicaSet.self).first { $0.metadata.name == Self.newSet })
        newReplicaSet.metadata.annotations?["deployment.kubernetes.io/revision"] = "2"
        _ = api.apply(newReplicaSet)
        var deployment = try #require(api.objects(Deployment.self).first { $0.metadata.name == "checkout" })
        deployment.metadata.annotations?["deployment.kubernetes.io/revision"] = "2"
        _ = api.apply(deployment)
        let newPod = try #require(api.objects(Pod.self).first { $0.metadata.name == Self.pods[2].0 })
        #expect(api.delete(Pod.self, namespace: Self.namespace, name: newPod.metadata.name))
        let collector = try await FakeCollector.start()
        let spool = NSTemporaryDirectory() + "fathom-revisions-\(UUID().uuidString)"
        let agent = try AgentEndToEndTests.agent(
            api: api, collector: collector, spool: spool, instance: "revisions", grace: 30)

        /// Waits until the agent has scraped each of `pods` `times` more.
        func scraped(_ pods: [String], times: Int) async -> Bool {
            let before = agent.scrapeCounts
            return await eventually(within: 60) {
                let counts = agent.scrapeCounts
                return pods.allSatisfy {
                    counts["\(Self.namespace)/\($0)", default: 0] >= before["\(Self.namespace)/\($0)", default: 0]
                        + times
                }
            }
        }
        let (oldA, oldB, new) = (Self.pods[0].0, Self.pods[1].0, Self.pods[2].0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            // Traffic starts once the agent has the old pods' first pages (its baselines).
            #expect(await scraped([oldA, oldB], times: 1))
            truth.withLock { $0 = [:] }
            proxies.frozen.withLock { $0 = false }
            #expect(await scraped([oldA, oldB], times: 4))
            // The controller creates the new revision's pod: its proxy starts now, failing more.
            proxies.mesh.withLock { mesh in
                mesh.proxies[2] = SimulatedProxy(
                    podName: new, podIP: "127.0.0.1", workload: Self.workload,
                    traffic: Self.traffic(failureRate: 0.3), startedAt: now(), seed: 77)
            }
            _ = api.apply(newPod)
            #expect(await scraped([oldA, oldB, new], times: 4))
            // Then deletes an old one: it stops serving, and goes once the agent read its last page.
            proxies.mesh.withLock { mesh in
                mesh.proxies[0].advance(to: now())
                mesh.proxies[0].setTraffic([])
            }
            #expect(await scraped([oldA], times: 2))
            #expect(api.delete(Pod.self, namespace: Self.namespace, name: oldA))
            #expect(await scraped([oldB, new], times: 4))
            // Every final page read, then the shutdown delivers the last window.
            proxies.frozen.withLock { $0 = true }
            #expect(await scraped([oldB, new], times: 2))
            await agent.shutdown()
            try await group.waitForAll()
        }

        // What the batches say, per revision: responses, and connections with their bytes.
        var received: [RouteKey: RouteTruth] = [:]
        for window in collector.acceptedBatches.map(AggregationWindow.init) {
            for route in window.routes {
                var counted = RouteTruth()
                counted.success = route.successCount
                counted.failure = route.failureCount
                counted.tcp = route.tcp?.counters ?? [:]
                received[route.key, default: RouteTruth()].add(counted)
            }
        }
        let expected = truth.withLock { $0 }.mapValues { served in
            var counted = RouteTruth()
            counted.success = served.success
            counted.failure = served.failure
            counted.tcp = served.tcp
            return counted
        }
        .filter { $0.value.success + $0.value.failure > 0 || !$0.value.tcp.isEmpty }
        #expect(Set(received.keys) == Set(expected.keys))
        for (key, served) in expected {
            #expect(received[key] == served, "\(key.identity.source) \(key.identity.target) revision \(key.revision)")
        }
        // Both revisions carry every kind of row, and the new one fails more.
        for revision in ["1", "2"] {
            let sources = Set(expected.keys.filter { $0.revision == revision }.map(\.identity.source))
            #expect(sources.isSuperset(of: [.endpoint, .serviceProfileRoute, .tcp]), "revision \(revision)")
        }
        func failureRatio(_ revision: String) -> Double {
            let rows = received.filter { $0.key.revision == revision && $0.key.identity.source == .endpoint }.values
            let failed = rows.map(\.failure).reduce(0, +)
            return failed / max(1, rows.map { $0.success + $0.failure }.reduce(0, +))
        }
        #expect(failureRatio("2") > failureRatio("1") + 0.1, "rev 1 \(failureRatio("1")), rev 2 \(failureRatio("2"))")
        // The last window's open connections, per revision: those of the pods alive at its end
        // (the deleted pod's went with it), as their proxies hold them.
        let last = try #require(collector.acceptedBatches.max { $0.sequence < $1.sequence }.map(AggregationWindow.init))
        let open = proxies.mesh.withLock { mesh in
            [("1", mesh.proxies[1]), ("2", mesh.proxies[2])].map { revision, proxy in
                (revision, proxy.openConnections.values.reduce(0, +))
            }
        }
        for (revision, connections) in open {
            let reported = last.routes.filter { $0.key.revision == revision }.compactMap(\.tcp?.openConnections)
            #expect(reported.reduce(0, +) == connections, "revision \(revision)")
            #expect(connections > 0, "revision \(revision) keeps connections open")
        }
        try await api.shutdown()
        try await collector.shutdown()
        try await proxies.shutdown()
    }
}
