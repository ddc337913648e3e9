import FathomModel
import Inventory
import KubernetesModels
import Testing

@Suite("Inventory: ownership, meshing, proxy versions, filters")
struct InventoryTests {
    @Test("pods resolve through their ReplicaSet to the Deployment or Rollout, and to every other owner kind")
    func ownership() {
        var inventory = ClusterInventory()
        _ = inventory.apply(
            [
                .upserted(Build.replicaSet("web-abc12", deployment: "web", revision: "1", images: ["web:1"])),
                .upserted(
                    Build.replicaSet(
                        "canary-77f", deployment: "canary", revision: "1", images: ["c:1"], ownerKind: "Rollout")),
            ] as [ReflectorDelta<ReplicaSet>], at: 0)
        func owner(_ kind: String, _ name: String, labels: [String: String] = [:]) -> WorkloadRef {
            inventory.workload(of: Build.meshedPod("p", owner: (kind, name), labels: labels))
        }
        #expect(owner("ReplicaSet", "web-abc12") == WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"))
        #expect(owner("ReplicaSet", "canary-77f") == WorkloadRef(kind: "Rollout", namespace: "shop", name: "canary"))
        // The ReplicaSet is not known yet: the pod-template-hash names the Deployment.
        #expect(
            owner("ReplicaSet", "api-5d9f8", labels: ["pod-template-hash": "5d9f8"])
                == WorkloadRef(kind: "Deployment", namespace: "shop", name: "api"))
        #expect(owner("ReplicaSet", "orphan") == WorkloadRef(kind: "ReplicaSet", namespace: "shop", name: "orphan"))
        #expect(owner("StatefulSet", "db") == WorkloadRef(kind: "StatefulSet", namespace: "shop", name: "db"))
        #expect(owner("DaemonSet", "agent") == WorkloadRef(kind: "DaemonSet", namespace: "shop", name: "agent"))
        #expect(owner("Job", "report-28901") == WorkloadRef(kind: "Job", namespace: "shop", name: "report-28901"))
        #expect(
            owner("Job", "report-28901", labels: ["linkerd.io/proxy-cronjob": "report"])
                == WorkloadRef(kind: "CronJob", namespace: "shop", name: "report"))
        #expect(
            inventory.workload(of: Build.meshedPod("solo", owner: nil))
                == WorkloadRef(kind: "Pod", namespace: "shop", name: "solo"))
    }

    @Test("per-workload summary: replicas, images, meshed pods, proxy versions, and pods behind the control plane")
    func summaries() throws {
        var inventory = ClusterInventory()
        _ = inventory.apply(
            [.upserted(Build.replicaSet("web-abc12", deployment: "web", revision: "2", images: ["web:2"]))]
                as [ReflectorDelta<ReplicaSet>], at: 0)
        _ = inventory.apply(
            [
                .upserted(
                    Build.deployment(
                        generation: 2, observed: 2, revision: "2", images: ["web:2"], total: 3, updated: 3, available: 3
                    ))
            ]
                as [ReflectorDelta<Deployment>], at: 0)
        var unmeshed = Build.meshedPod("web-abc12-zzz", owner: ("ReplicaSet", "web-abc12"))
        unmeshed.metadata.labels?["linkerd.io/control-plane-ns"] = nil
        let pods: [ReflectorDelta<Pod>] = [
            .upserted(
                Build.meshedPod(
                    "linkerd-destination-1", namespace: "linkerd", owner: nil, version: "stable-2.14.10",
                    controlPlaneComponent: "destination")),
            .upserted(
                Build.meshedPod(
                    "linkerd-identity-1", namespace: "linkerd", owner: nil, version: "stable-2.14.10",
                    controlPlaneComponent: "identity")),
            .upserted(Build.meshedPod("web-abc12-aaa", owner: ("ReplicaSet", "web-abc12"), version: "stable-2.14.10")),
            .upserted(Build.meshedPod("web-abc12-bbb", owner: ("ReplicaSet", "web-abc12"), version: "stable-2.13.4")),
            .upserted(unmeshed),
        ]
        _ = inventory.apply(pods, at: 0)
        #expect(inventory.controlPlaneVersion == "stable-2.14.10")
        let web = try #require(inventory.workloads().first { $0.workload.name == "web" })
        #expect(web.desiredReplicas == 3 && web.availableReplicas == 3 && web.updatedReplicas == 3)
        #expect(web.images == ["web:2"])
        #expect(web.version == "1.0")
        #expect(web.pods == 3 && web.meshedPods == 2)
        #expect(web.proxyVersions == ["stable-2.14.10": 1, "stable-2.13.4": 1])
        #expect(web.outdatedProxyPods == ["web-abc12-bbb"])
        #expect(web.rollout?.phase == .complete && web.rollout?.revision == "2")
        #expect(inventory.scrapeCandidates().count == 4)

        _ = inventory.apply(
            [.deleted(ObjectKey(namespace: "shop", name: "web-abc12-bbb"), uid: "uid-web-abc12-bbb", last: nil)]
                as [ReflectorDelta<Pod>], at: 1)
        #expect(inventory.workloads().first { $0.workload.name == "web" }?.outdatedProxyPods == [])

        // A second identity replica the scheduler finds no node for: pending, and said so.
        var pending = Build.meshedPod(
            "linkerd-identity-2", namespace: "linkerd", owner: nil, ip: nil, controlPlaneComponent: "identity")
        pending.status = Pod.Status(
            phase: "Pending",
            conditions: [
                Condition(
                    type: "PodScheduled", status: "False", reason: "Unschedulable",
                    message: "0/3 nodes are available: 3 Insufficient cpu.")
            ])
        _ = inventory.apply([.upserted(pending)] as [ReflectorDelta<Pod>], at: 2)
        let controlPlane = inventory.controlPlane().pods.map { ($0.name, $0.unschedulable) }
        #expect(controlPlane.map(\.0) == ["linkerd-destination-1", "linkerd-identity-1", "linkerd-identity-2"])
        #expect(controlPlane.map(\.1) == [false, false, true])
    }

    @Test("namespace filters: exclusion wins, a trailing * matches a prefix; the control plane is still read")
    func namespaceFilter() {
        let filter = NamespaceFilter(include: ["team-*", "shop"], exclude: ["team-secret"])
        #expect(filter.covers("team-a") && filter.covers("shop"))
        #expect(!filter.covers("team-secret") && !filter.covers("kube-system"))
        var inventory = ClusterInventory(
            settings: InventorySettings(namespaces: NamespaceFilter(exclude: ["linkerd", "kube-*"])))
        _ = inventory.apply(
            [
                .upserted(Build.meshedPod("a", namespace: "shop", owner: nil)),
                .upserted(Build.meshedPod("b", namespace: "kube-system", owner: nil)),
                .upserted(
                    Build.meshedPod(
                        "cp", namespace: "linkerd", owner: nil, version: "edge-25.11.2",
                        controlPlaneComponent: "destination")),
            ] as [ReflectorDelta<Pod>], at: 0)
        #expect(inventory.scrapeCandidates().map(\.pod.name) == ["a"])
        #expect(inventory.controlPlaneVersion == "edge-25.11.2")
    }
}
