import AgentTestSupport
import Foundation
import KubernetesModels
import LocalServers
import ReportProtos
import Testing

/// Daemonset mode as it ships: three `fathom-agent run` processes, one per node, elect a leader
/// through one Lease while a Deployment rolls out. The first leader stops mid-rollout (SIGTERM),
/// the next is killed (`kill -9`) right after it saw a transition and before its window
/// closed; the last one finishes. Between them they report every transition once.
@Suite(.serialized) struct LeadershipHandoverTests {
    /// `shop/web`, three replicas, one ReplicaSet per revision, as the Deployment controller
    /// reports it.
    struct Web {
        let api: FakeKubernetesAPI
        static let workload = "shop/deployment/web"

        static func template(_ revision: Int) -> PodTemplate {
            PodTemplate(labels: ["app": "web"], containers: [Pod.Container(name: "web", image: "shop/web:\(revision)")])
        }

        func replicaSet(_ revision: Int) {
            api.apply(
                ReplicaSet(
                    metadata: ObjectMeta(
                        name: "web-\(revision)", namespace: "shop", uid: "rs-web-\(revision)",
                        annotations: ["deployment.kubernetes.io/revision": "\(revision)"],
                        ownerReferences: [
                            OwnerReference(apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: "deploy-web")
                        ]),
                    spec: ReplicaSet.Spec(replicas: 3, template: Self.template(revision))))
        }

        func deployment(revision: Int, total: Int, updated: Int, available: Int) {
            api.apply(
                Deployment(
                    metadata: ObjectMeta(
                        name: "web", namespace: "shop", uid: "deploy-web", generation: Int64(revision),
                        annotations: ["deployment.kubernetes.io/revision": "\(revision)"]),
                    spec: Deployment.Spec(replicas: 3, template: Self.template(revision)),
                    status: Deployment.Status(
                        observedGeneration: Int64(revision), replicas: total, updatedReplicas: updated,
                        readyReplicas: available, availableReplicas: available,
                        conditions: [
                            Condition(
                                type: "Progressing", status: "True",
                                reason: updated < total ? "ReplicaSetUpdated" : "NewReplicaSetAvailable")
                        ])))
        }
    }

    static let names: [Fathom_Agent_V1_RolloutEvent.Phase: String] = [
        .started: "started", .progressing: "progressed", .completed: "completed", .failed: "failed",
        .rolledBack: "rolled_back",
    ]

    @Test func aRolloutAcrossAStoppedAndAKilledLeaderIsReportedOnceEach() async throws {
        let scene = try await ProcessScene.start()
        let web = Web(api: scene.api)
        web.replicaSet(1)
        web.deployment(revision: 1, total: 3, updated: 3, available: 3)
        func start(_ node: String) throws -> AgentSubprocess {
            let config = try scene.writeConfiguration(
                scene.configuration(node: node), name: "\(node).yaml")
            return try AgentProcessTests.run(config, variables: ["POD_NAME": "agent-\(node)"])
        }
        func holder() -> String? { scene.api.objects(Lease.self).first?.spec.holderIdentity }
        func batches(from node: String) -> [Fathom_Agent_V1_ReportBatch] {
            scene.collector.acceptedBatches.filter { $0.agent.nodeName == node }
        }
        func reported() -> [Fathom_Agent_V1_RolloutEvent] {
            scene.collector.acceptedBatches.flatMap(\.rolloutEvents).filter { $0.workload.name == "web" }
        }
        func seen(_ agent: AgentSubprocess, _ phase: String) async -> Double {
            await agent.metric("fathom_rollout_events_total", ["phase": phase]) ?? 0
        }

        var agents: [String: AgentSubprocess] = [:]
        defer { for agent in agents.values { agent.kill() } }
        agents["a"] = try start("a")
        #expect(await eventually(within: 30) { holder() == "agent-a" }, "\(agents["a"]!.errors)")
        agents["b"] = try start("b")
        agents["c"] = try start("c")
        for agent in agents.values {
            #expect(await eventually(within: 30) { (try? await agent.get("/readyz"))?.status == 200 })
        }

        // Revision 2 starts; the leader reports it.
        web.replicaSet(2)
        web.deployment(revision: 2, total: 4, updated: 1, available: 3)
        #expect(await eventually(within: 30) { batches(from: "a").contains { !$0.rolloutEvents.isEmpty } })

        // A second replica is updated; every agent sees it; the leader is stopped at once.
        web.deployment(revision: 2, total: 4, updated: 2, available: 3)
        for agent in agents.values {
            #expect(await eventually(within: 30) { await seen(agent, "progressed") == 1 })
        }
        agents["a"]!.signal(SIGTERM)
        #expect(await agents["a"]!.exitStatus(within: 30) == 0)
        #expect(await eventually(within: 30) { ["agent-b", "agent-c"].contains(holder() ?? "") })
        let second = String(try #require(holder()).dropFirst("agent-".count))
        let third = second == "b" ? "c" : "b"

        // Right after one of its windows, the second leader sees the third replica updated, and
        // dies before the next window: what it saw is the third agent's to report.
        let before = batches(from: second).count
        #expect(await eventually(within: 30) { batches(from: second).count > before })
        web.deployment(revision: 2, total: 4, updated: 3, available: 3)
        for node in [second, third] {
            #expect(await eventually(within: 30) { await seen(agents[node]!, "progressed") == 2 })
        }
        agents[second]!.kill()
        let reportedBeforeTheKill = reported().count

        // The third takes the Lease over once it runs out, and sees the rollout complete.
        #expect(await eventually(within: 60) { holder() == "agent-\(third)" })
        web.deployment(revision: 2, total: 3, updated: 3, available: 3)
        #expect(await eventually(within: 30) { reported().contains { $0.phase == .completed } })
        agents[third]!.signal(SIGTERM)
        #expect(await agents[third]!.exitStatus(within: 30) == 0)

        // The third agent saw every transition from the start: the three report exactly those,
        // in order, each once.
        let sawAll = agents[third]!.logs("rollout").filter { $0["k8s.workload"] == Web.workload }
        #expect(sawAll.map { $0["rollout.phase"] ?? "" } == ["started", "progressed", "progressed", "completed"])
        let events = reported().sorted { $0.observedUnixMs < $1.observedUnixMs }
        #expect(events.map { Self.names[$0.phase] ?? "?" } == sawAll.map { $0["rollout.phase"] ?? "" })
        #expect(events.filter { $0.phase == .progressing }.map(\.replicasUpdated) == [2, 3])
        #expect(Set(events.map(\.id)).count == events.count && events.allSatisfy { $0.id.count == 16 })
        // The killed leader had not reported the third replica: the third agent did.
        #expect(reportedBeforeTheKill == 2, "\(events)")
        let byThird = batches(from: third).flatMap(\.rolloutEvents).map { Self.names[$0.phase] ?? "?" }
        #expect(byThird == ["progressed", "completed"])
        // Each leader's first inventory is a full snapshot: the SaaS had another's meanwhile. (The
        // second may have died before its list of every node's pods was complete, so sent none.)
        for node in ["a", third] {
            #expect(batches(from: node).first { $0.hasInventory }?.inventory.kind == .full, "\(node)")
        }
        if let first = batches(from: second).first(where: { $0.hasInventory }) {
            #expect(first.inventory.kind == .full)
        }
        // The Lease holds the last leader's note: the identities it and its forerunners reported.
        let note = scene.api.objects(Lease.self).first?.metadata.annotation(LeaderElectionState.noteAnnotation)
        #expect(Set((note ?? "").split(separator: " ").map(String.init)) == Set(events.map(\.id)))
        try await scene.shutdown()
    }
}
