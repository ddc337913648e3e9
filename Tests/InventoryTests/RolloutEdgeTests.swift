import FathomModel
import Inventory
import KubernetesModels
import Testing

/// Rollout rules at their edges: a lowered partition, a resource the agent loses and regains,
/// the version label, and proxies of no known version.
@Suite struct RolloutEdgeTests {
    static func statefulSet(
        generation: Int64, observed: Int64, partition: Int?, current: String, update: String, updated: Int,
        ready: Int = 3, version: Int
    ) -> StatefulSet {
        StatefulSet(
            metadata: ObjectMeta(
                name: "db", namespace: "sts", uid: "uid-db", resourceVersion: "\(version)", generation: generation),
            spec: StatefulSet.Spec(replicas: 3, template: Build.template(["db:17"]), partition: partition),
            status: StatefulSet.Status(
                observedGeneration: observed, replicas: 3, readyReplicas: ready, updatedReplicas: updated,
                currentRevision: current, updateRevision: update))
    }

    static func revision(_ name: String, _ number: Int64, owner: String, kind: String) -> ControllerRevision {
        ControllerRevision(
            metadata: ObjectMeta(
                name: name, namespace: "sts", uid: "uid-\(name)",
                ownerReferences: [OwnerReference(apiVersion: "apps/v1", kind: kind, name: owner, uid: "uid-\(owner)")]),
            revision: number)
    }

    /// A partitioned update completes at its partition; lowering the partition rolls the rest:
    /// progress, then completion again (before, nothing was reported of it).
    @Test func aLoweredPartitionProgressesAndCompletesAgain() {
        var inventory = ClusterInventory()
        var events = inventory.apply(
            [
                .upserted(Self.revision("db-a", 3, owner: "db", kind: "StatefulSet")),
                .upserted(Self.revision("db-b", 4, owner: "db", kind: "StatefulSet")),
            ]
                as [ReflectorDelta<ControllerRevision>], at: 0, listed: true)
        var version = 10
        func apply(_ set: StatefulSet) {
            version += 1
            events += inventory.apply([.upserted(set)] as [ReflectorDelta<StatefulSet>], at: Double(version))
        }
        events += inventory.apply(
            [
                .upserted(
                    Self.statefulSet(
                        generation: 2, observed: 2, partition: 2, current: "db-a", update: "db-a", updated: 3,
                        version: version))
            ] as [ReflectorDelta<StatefulSet>], at: 1, listed: true)
        apply(
            Self.statefulSet(
                generation: 3, observed: 3, partition: 2, current: "db-a", update: "db-b", updated: 0, version: version)
        )
        apply(
            Self.statefulSet(
                generation: 3, observed: 3, partition: 2, current: "db-a", update: "db-b", updated: 1, version: version)
        )
        // Partition lowered to 0: the controller has not observed it yet, then rolls ordinals 1 and 0.
        apply(
            Self.statefulSet(
                generation: 4, observed: 3, partition: 0, current: "db-a", update: "db-b", updated: 1, version: version)
        )
        apply(
            Self.statefulSet(
                generation: 4, observed: 4, partition: 0, current: "db-a", update: "db-b", updated: 1, ready: 2,
                version: version))
        apply(
            Self.statefulSet(
                generation: 4, observed: 4, partition: 0, current: "db-a", update: "db-b", updated: 2, version: version)
        )
        apply(
            Self.statefulSet(
                generation: 4, observed: 4, partition: 0, current: "db-b", update: "db-b", updated: 3, version: version)
        )
        #expect(
            events.map { "\($0.kind.rawValue) \($0.updatedReplicas)" } == [
                "started 0", "completed 1", "progressed 1", "progressed 2", "completed 3",
            ])
        #expect(Set(events.map(\.identity)).count == events.count, "two completions, two identities")
    }

    /// The DaemonSet watch is refused (RBAC changed) while ControllerRevisions stay visible: a
    /// restart's new revision appears next to the last, stale, DaemonSet status. Nothing is
    /// reported from that (before: STARTED and COMPLETED in the same millisecond); once the
    /// watch is back the workload is seen afresh, and the controller's own progress afterwards
    /// invents nothing either.
    @Test func aRefusedWatchReportsNoTransitionFromStaleStatus() {
        var inventory = ClusterInventory()
        func daemonSet(generation: Int64, observed: Int64, updated: Int, version: String) -> DaemonSet {
            DaemonSet(
                metadata: ObjectMeta(
                    name: "agent", namespace: "sts", uid: "uid-agent", resourceVersion: version,
                    generation: generation),
                spec: DaemonSet.Spec(template: Build.template(["agent:2"])),
                status: DaemonSet.Status(
                    observedGeneration: observed, desiredNumberScheduled: 2, currentNumberScheduled: 2,
                    updatedNumberScheduled: updated, numberReady: 2, numberAvailable: 2))
        }
        var events = inventory.apply(
            [.upserted(Self.revision("agent-1", 1, owner: "agent", kind: "DaemonSet"))]
                as [ReflectorDelta<ControllerRevision>], at: 0, listed: true)
        events += inventory.apply(
            [.upserted(daemonSet(generation: 1, observed: 1, updated: 2, version: "5"))] as [ReflectorDelta<DaemonSet>],
            at: 0, listed: true)
        events += inventory.setAvailable("daemonsets", false, at: 1)
        // `kubectl rollout restart` while the agent cannot see DaemonSets: a new revision.
        events += inventory.apply(
            [.upserted(Self.revision("agent-2", 2, owner: "agent", kind: "DaemonSet"))]
                as [ReflectorDelta<ControllerRevision>], at: 2)
        #expect(events.isEmpty, "\(events)")
        // Allowed again: the watch resumes, first with the status as it was, then fresh ones.
        events += inventory.setAvailable("daemonsets", true, at: 3)
        events += inventory.apply(
            [.upserted(daemonSet(generation: 2, observed: 2, updated: 1, version: "9"))] as [ReflectorDelta<DaemonSet>],
            at: 4)
        events += inventory.apply(
            [.upserted(daemonSet(generation: 2, observed: 2, updated: 2, version: "11"))]
                as [ReflectorDelta<DaemonSet>],
            at: 5)
        #expect(!events.contains { $0.kind == .started || $0.kind == .completed }, "\(events)")
    }

    /// `version`, the label older charts set, stands in for `app.kubernetes.io/version`.
    @Test func theVersionLabelFallsBackToVersion() {
        var inventory = ClusterInventory()
        var deployment = Build.deployment(
            generation: 1, observed: 1, revision: "1", images: ["web:1"], total: 3, updated: 3, available: 3)
        deployment.spec.template.metadata?.labels = ["version": "v7"]
        _ = inventory.apply([.upserted(deployment)] as [ReflectorDelta<Deployment>], at: 0, listed: true)
        #expect(inventory.workloads().first?.version == "v7")
        deployment.spec.template.metadata?.labels = ["version": "v7", "app.kubernetes.io/version": "7.0"]
        _ = inventory.apply([.upserted(deployment)] as [ReflectorDelta<Deployment>], at: 1)
        #expect(inventory.workloads().first?.version == "7.0")
    }

    /// A meshed pod whose proxy version nothing tells (no annotation, an image by digest, not
    /// scraped by this agent) is counted as `unknown`, never listed as outdated.
    @Test func aProxyOfNoKnownVersionIsNotOutdated() {
        var inventory = ClusterInventory(settings: InventorySettings(controlPlaneVersion: "edge-25.10.1"))
        var known = Build.meshedPod("web-1", namespace: "shop", owner: nil, version: "edge-25.1.1")
        var unknown = Build.meshedPod("web-2", namespace: "shop", owner: nil, version: "edge-25.1.1")
        unknown.metadata.annotations?["linkerd.io/proxy-version"] = nil
        unknown.spec.containers = unknown.spec.containers.map { container in
            var container = container
            if container.name == "linkerd-proxy" { container.image = "cr.l5d.io/linkerd/proxy@sha256:abc" }
            return container
        }
        known.metadata.labels?["app"] = "web"
        _ = inventory.apply([.upserted(known), .upserted(unknown)] as [ReflectorDelta<Pod>], at: 0, listed: true)
        let versions = inventory.workloads().reduce(into: [String: Int]()) { all, summary in
            all.merge(summary.proxyVersions) { $0 + $1 }
        }
        #expect(versions == ["edge-25.1.1": 1, "unknown": 1])
        #expect(inventory.workloads().flatMap(\.outdatedProxyPods) == ["web-1"])
    }
}

/// Jobs, a kind added as one model file and one registry row: a Job's pods belong to it, a
/// CronJob's Jobs (and their pods) to the CronJob, counted from the Jobs' status.
@Suite struct JobWorkloadTests {
    static func job(_ name: String, cronJob: String?, active: Int, ready: Int) -> Job {
        Job(
            metadata: ObjectMeta(
                name: name, namespace: "batch", uid: "uid-\(name)",
                ownerReferences: cronJob.map {
                    [OwnerReference(apiVersion: "batch/v1", kind: "CronJob", name: $0, uid: "uid-\($0)")]
                }),
            spec: Job.Spec(parallelism: 2, template: Build.template(["report:3"])),
            status: Job.Status(active: active, ready: ready))
    }

    @Test func aCronJobsJobsAndTheirPodsAreTheCronJobsWorkload() {
        var inventory = ClusterInventory()
        _ = inventory.apply(
            [
                .upserted(Self.job("nightly-29100", cronJob: "nightly", active: 0, ready: 0)),
                .upserted(Self.job("nightly-29101", cronJob: "nightly", active: 2, ready: 1)),
                .upserted(Self.job("migrate", cronJob: nil, active: 1, ready: 1)),
            ] as [ReflectorDelta<Job>], at: 0, listed: true)
        let pods = [
            Build.meshedPod("nightly-29101-a", namespace: "batch", owner: ("Job", "nightly-29101")),
            Build.meshedPod("nightly-29101-b", namespace: "batch", owner: ("Job", "nightly-29101")),
            Build.meshedPod("migrate-x", namespace: "batch", owner: ("Job", "migrate")),
        ]
        _ = inventory.apply(pods.map { .upserted($0) } as [ReflectorDelta<Pod>], at: 0, listed: true)
        #expect(inventory.workload(of: pods[0]) == WorkloadRef(kind: "CronJob", namespace: "batch", name: "nightly"))
        #expect(inventory.workload(of: pods[2]) == WorkloadRef(kind: "Job", namespace: "batch", name: "migrate"))
        let summaries = Dictionary(uniqueKeysWithValues: inventory.workloads().map { ($0.workload.name, $0) })
        #expect(Set(summaries.keys) == ["nightly", "migrate"])
        #expect(summaries["nightly"]?.desiredReplicas == 2 && summaries["nightly"]?.readyReplicas == 1)
        #expect(summaries["nightly"]?.meshedPods == 2 && summaries["nightly"]?.images == ["report:3"])
        #expect(summaries["migrate"]?.workload.kind == "Job" && summaries["migrate"]?.meshedPods == 1)
        // Jobs do not roll out.
        #expect(summaries["migrate"]?.rolloutState == nil)
        #expect(inventory.objectCounts["jobs"] == 3)
    }
}
