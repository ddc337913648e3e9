import FathomModel
import Inventory
import KubernetesModels
import Testing

/// Feeds a scripted sequence of object states to an inventory, collecting the rollout events.
struct RolloutScript {
    var inventory = ClusterInventory()
    var events: [RolloutEvent] = []
    var clock = 1_000.0

    mutating func deployment(_ deployment: Deployment) {
        clock += 1
        events += inventory.apply([.upserted(deployment)] as [ReflectorDelta<Deployment>], at: clock, listed: true)
    }

    mutating func replicaSet(_ set: ReplicaSet) {
        clock += 1
        events += inventory.apply([.upserted(set)] as [ReflectorDelta<ReplicaSet>], at: clock, listed: true)
    }

    mutating func take() -> [String] {
        defer { events = [] }
        return events.map { event in
            "\(event.kind.rawValue) \(event.fromRevision ?? "-")→\(event.toRevision) "
                + "\(event.fromImages.joined(separator: ","))→\(event.toImages.joined(separator: ",")) "
                + "\(event.updatedReplicas)/\(event.availableReplicas)/\(event.desiredReplicas)"
        }
    }
}

@Suite("Rollout state machine on real controller status sequences")
struct RolloutTests {
    /// `kubectl set image deploy/web c0=web:2` on 3 replicas with maxSurge 1, maxUnavailable 0,
    /// as the Deployment controller reports it step by step.
    static func rollingUpdate(_ script: inout RolloutScript) {
        script.replicaSet(Build.replicaSet("web-1111", deployment: "web", revision: "1", images: ["web:1"]))
        script.deployment(
            Build.deployment(
                generation: 1, observed: 1, revision: "1", images: ["web:1"], total: 3, updated: 3, available: 3))
        // The template changed; the controller has not observed it yet.
        script.deployment(
            Build.deployment(
                generation: 2, observed: 1, revision: "1", images: ["web:2"], total: 3, updated: 3, available: 3))
        script.replicaSet(Build.replicaSet("web-2222", deployment: "web", revision: "2", images: ["web:2"]))
        script.deployment(
            Build.deployment(
                generation: 2, observed: 2, revision: "2", images: ["web:2"], total: 4, updated: 1, available: 3))
        script.deployment(
            Build.deployment(
                generation: 2, observed: 2, revision: "2", images: ["web:2"], total: 4, updated: 2, available: 3))
        script.deployment(
            Build.deployment(
                generation: 2, observed: 2, revision: "2", images: ["web:2"], total: 4, updated: 3, available: 3))
        script.deployment(
            Build.deployment(
                generation: 2, observed: 2, revision: "2", images: ["web:2"], total: 3, updated: 3, available: 3))
    }

    @Test("a rolling update: started with revisions and images, progressed, completed; nothing at first sight")
    func rollingUpdateEvents() {
        var script = RolloutScript()
        Self.rollingUpdate(&script)
        #expect(
            script.take() == [
                "started 1→2 web:1→web:2 1/3/3",
                "progressed 1→2 web:1→web:2 2/3/3",
                "progressed 1→2 web:1→web:2 3/3/3",
                "completed 1→2 web:1→web:2 3/3/3",
            ])
        let completed = script.inventory.workloads().first { $0.workload.name == "web" }?.rollout
        #expect(completed?.phase == .complete && completed?.revision == "2")
    }

    @Test("the same objects again (a re-list) or in a fresh inventory (an agent restart) give no events")
    func noDuplicates() {
        var script = RolloutScript()
        Self.rollingUpdate(&script)
        _ = script.take()
        let finalDeployment = script.inventory.objects(Deployment.self).values.first!
        let sets = Array(script.inventory.replicaSets.values)
        // Re-list: every object delivered again.
        script.events += script.inventory.apply(
            sets.map { .upserted($0) } as [ReflectorDelta<ReplicaSet>], at: 5_000, listed: true)
        script.events += script.inventory.apply(
            [.upserted(finalDeployment)] as [ReflectorDelta<Deployment>], at: 5_000, listed: true)
        #expect(script.take().isEmpty)
        // Restart mid-rollout: the first list shows a rollout under way; no event for the past.
        var restarted = RolloutScript()
        restarted.events += restarted.inventory.apply(
            sets.map { .upserted($0) } as [ReflectorDelta<ReplicaSet>], at: 0, listed: true)
        restarted.events += restarted.inventory.apply(
            [
                .upserted(
                    Build.deployment(
                        generation: 2, observed: 2, revision: "2", images: ["web:2"], total: 4, updated: 2, available: 3
                    ))
            ]
                as [ReflectorDelta<Deployment>], at: 0, listed: true)
        #expect(restarted.take().isEmpty)
        #expect(restarted.inventory.workloads().first?.rollout?.phase == .progressing)
    }

    @Test("a stuck rollout fails on ProgressDeadlineExceeded, and `rollout undo` is a rollback that completes")
    func failureAndRollback() {
        var script = RolloutScript()
        Self.rollingUpdate(&script)
        _ = script.take()
        script.replicaSet(Build.replicaSet("web-3333", deployment: "web", revision: "3", images: ["web:bad"]))
        script.deployment(
            Build.deployment(
                generation: 3, observed: 3, revision: "3", images: ["web:bad"], total: 4, updated: 1, available: 3))
        script.deployment(
            Build.deployment(
                generation: 3, observed: 3, revision: "3", images: ["web:bad"], total: 4, updated: 1, available: 3,
                deadlineExceeded: true))
        // `kubectl rollout undo`: the revision-2 ReplicaSet becomes revision 4 and remembers 2.
        script.replicaSet(
            Build.replicaSet("web-2222", deployment: "web", revision: "4", images: ["web:2"], history: "2"))
        script.deployment(
            Build.deployment(
                generation: 4, observed: 4, revision: "4", images: ["web:2"], total: 4, updated: 3, available: 3))
        script.deployment(
            Build.deployment(
                generation: 4, observed: 4, revision: "4", images: ["web:2"], total: 3, updated: 3, available: 3))
        #expect(
            script.take() == [
                "started 2→3 web:2→web:bad 1/3/3",
                "failed 2→3 web:2→web:bad 1/3/3",
                "rolled_back 3→4 web:bad→web:2 3/3/3",
                "completed 3→4 web:bad→web:2 3/3/3",
            ])
    }

    @Test("a Deployment created while watching rolls out its first revision")
    func createdWhileWatching() {
        var script = RolloutScript()
        script.events += script.inventory.apply([] as [ReflectorDelta<ReplicaSet>], at: 0, listed: true)
        script.events += script.inventory.apply([] as [ReflectorDelta<Deployment>], at: 0, listed: true)
        script.deployment(
            Build.deployment(
                generation: 1, observed: 0, revision: nil, images: ["new:1"], total: 0, updated: 0, available: 0))
        script.deployment(
            Build.deployment(
                generation: 1, observed: 1, revision: "1", images: ["new:1"], total: 3, updated: 3, available: 0))
        script.deployment(
            Build.deployment(
                generation: 1, observed: 1, revision: "1", images: ["new:1"], total: 3, updated: 3, available: 3))
        #expect(script.take() == ["started -→1 →new:1 3/0/3", "completed -→1 →new:1 3/3/3"])
    }

    @Test("a StatefulSet rolls from currentRevision to updateRevision")
    func statefulSet() {
        var inventory = ClusterInventory()
        // Listed, with none: the stand-in names are the revisions.
        var events = inventory.apply([] as [ReflectorDelta<ControllerRevision>], at: 0, listed: true)
        func apply(
            _ generation: Int64, _ observed: Int64, current: String, update: String, updated: Int, ready: Int,
            image: String
        ) {
            let set = StatefulSet(
                metadata: ObjectMeta(name: "db", namespace: "shop", uid: "db", generation: generation),
                spec: StatefulSet.Spec(replicas: 3, template: Build.template([image])),
                status: StatefulSet.Status(
                    observedGeneration: observed, replicas: 3, readyReplicas: ready, updatedReplicas: updated,
                    currentRevision: current, updateRevision: update))
            events += inventory.apply(
                [.upserted(set)] as [ReflectorDelta<StatefulSet>], at: Double(events.count), listed: true)
        }
        apply(1, 1, current: "db-aaa", update: "db-aaa", updated: 3, ready: 3, image: "pg:15")
        apply(2, 2, current: "db-aaa", update: "db-bbb", updated: 0, ready: 3, image: "pg:16")
        apply(2, 2, current: "db-aaa", update: "db-bbb", updated: 1, ready: 2, image: "pg:16")
        apply(2, 2, current: "db-aaa", update: "db-bbb", updated: 3, ready: 3, image: "pg:16")
        apply(2, 2, current: "db-bbb", update: "db-bbb", updated: 3, ready: 3, image: "pg:16")
        #expect(events.map(\.kind) == [.started, .progressed, .progressed, .completed])
        #expect(events.first?.fromRevision == "db-aaa" && events.first?.toRevision == "db-bbb")
        #expect(events.first?.fromImages == ["pg:15"] && events.last?.toImages == ["pg:16"])
    }

    @Test("an Argo Rollout: a canary that degrades fails, an abort rolls back")
    func argoRollout() {
        var inventory = ClusterInventory()
        var events = inventory.apply([] as [ReflectorDelta<ReplicaSet>], at: 0, listed: true)
        func apply(revision: String, phase: String, updated: Int, abort: Bool = false, image: String) {
            let rollout = ArgoRollout(
                metadata: ObjectMeta(
                    name: "checkout", namespace: "shop", uid: "r",
                    annotations: ["rollout.argoproj.io/revision": revision]),
                spec: ArgoRollout.Spec(replicas: 4, template: Build.template([image])),
                status: ArgoRollout.Status(
                    phase: phase, message: abort ? "RolloutAborted: metric failed" : nil, updatedReplicas: updated,
                    availableReplicas: 4, abort: abort))
            events += inventory.apply([.upserted(rollout)] as [ReflectorDelta<ArgoRollout>], at: 0, listed: true)
        }
        apply(revision: "5", phase: "Healthy", updated: 4, image: "co:5")
        apply(revision: "6", phase: "Progressing", updated: 1, image: "co:6")
        apply(revision: "6", phase: "Paused", updated: 1, image: "co:6")
        apply(revision: "6", phase: "Degraded", updated: 1, abort: true, image: "co:6")
        #expect(events.map(\.kind) == [.started, .rolledBack, .failed])
        #expect(events.last?.message == "RolloutAborted: metric failed")
    }
}
