import FathomModel
import Inventory
import KubernetesModels
import Testing

/// Each pod's revision, as its route metrics are keyed, named as the rollout events and the
/// inventory name revisions: replayed from real controller recordings, step by step, so the old
/// and the new revision's pods are seen side by side mid-rollout.
@Suite struct PodRevisionTests {
    /// Plays `scenario` and, after every step, names each pod of `workload` by its revision.
    /// Returns the revisions seen together at each step, and the replay's events.
    static func revisions(_ scenario: String, of workload: String) throws -> (
        steps: [Set<String>], events: [RolloutEvent], final: String?
    ) {
        let recording = try Replay.load(scenario)
        var steps: [Set<String>] = []
        var replay = Replay.run(recording, through: -1)
        func record() {
            var seen: Set<String> = []
            for pod in replay.inventory.pods.values {
                let ref = replay.inventory.workload(of: pod)
                guard ref.name == workload else { continue }
                // Every pod of a kind with revisions is named once its revision object is known.
                let revision = replay.inventory.revision(of: pod, in: ref)
                #expect(revision != nil, "\(pod.key) of \(ref) has no revision")
                if let revision { seen.insert(revision) }
            }
            steps.append(seen)
        }
        record()
        for step in recording.steps {
            replay.events += step.apply(&replay.inventory, step.seconds)
            record()
        }
        let final = replay.inventory.workloads().first { $0.workload.name == workload }?.rollout?.revision
        return (steps, replay.events, final)
    }

    @Test(arguments: [
        ("deployment-rolling-update", "web"), ("statefulset-rolling-update", "db"),
        ("daemonset-rolling-update", "node-agent"),
    ])
    func oldAndNewRevisionsSideBySideNamedAsTheRolloutNamesThem(scenario: String, workload: String) throws {
        let (steps, events, final) = try Self.revisions(scenario, of: workload)
        let rollouts = events.filter { [.started, .rolledBack].contains($0.kind) && $0.workload.name == workload }
        try #require(!rollouts.isEmpty, "\(scenario): no rollout")
        // Every pod is of a revision a rollout left or went to...
        let named = Set(rollouts.flatMap { [$0.fromRevision ?? "", $0.toRevision] })
        for (index, seen) in steps.enumerated() {
            #expect(seen.isSubset(of: named), "\(scenario) step \(index): \(seen), rollouts name \(named)")
        }
        // ...the old and the new side by side while each rolls, and at the end only the last
        // one's, which the inventory calls the workload's revision.
        for rollout in rollouts {
            let pair: Set = [rollout.fromRevision ?? "", rollout.toRevision]
            #expect(steps.contains { $0 == pair }, "\(scenario): never both of \(pair)")
        }
        #expect(steps.last == [rollouts.last!.toRevision], "\(scenario): ends with \(steps.last ?? [])")
        #expect(final == rollouts.last!.toRevision)
    }

    /// A destination's revision as outbound traffic names it: the proxy labels it by
    /// `dst_deployment` and `dst_pod_template_hash`, the agent joins them as `<deployment>-<hash>`
    /// and numbers that ReplicaSet from the inventory. At every step of the recorded rollouts, the
    /// number is the one the pod's own revision has (its inbound and outbound rows).
    @Test(arguments: ["deployment-rolling-update", "deployment-undo-after-failure", "deployment-scale-and-pause"])
    func aDestinationNamedByItsPodTemplateHashHasThePodsRevision(scenario: String) throws {
        let recording = try Replay.load(scenario)
        var replay = Replay.run(recording, through: -1)
        var checked = 0
        func check() {
            for pod in replay.inventory.pods.values {
                let workload = replay.inventory.workload(of: pod)
                guard workload.kind == "Deployment", let hash = pod.templateHash else { continue }
                let own = replay.inventory.revision(of: pod, in: workload)
                let asDestination = replay.inventory.revision(
                    ofReplicaSet: workload.name + "-" + hash, namespace: pod.key.namespace)
                #expect(asDestination != nil && asDestination == own, "\(scenario): \(pod.key)")
                checked += 1
            }
        }
        check()
        for step in recording.steps {
            replay.events += step.apply(&replay.inventory, step.seconds)
            check()
        }
        #expect(checked > 0)
    }
}
