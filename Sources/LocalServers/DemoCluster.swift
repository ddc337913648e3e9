import FathomModel
import Foundation
import KubernetesAPI
import KubernetesModels
import ProxySimulation

/// The demo's Kubernetes objects, served by the fake API server: a Linkerd control plane, and for
/// every simulated proxy a meshed pod (owned by a ReplicaSet and a Deployment) whose admin port
/// points at that proxy's loopback server. One Deployment rolls out a new revision while the demo
/// runs, step by step as the Deployment controller would report it; one pod runs an older proxy.
public struct DemoCluster: Sendable {
    public static let controlPlaneVersion = "stable-2.14.10"
    public static let outdatedProxyVersion = "stable-2.14.9"
    /// The control plane's pods by component: those `linkerd check` wants ready, one ready pod each.
    public static let controlPlanePods = [
        ("destination", "linkerd-destination-6b8f9c7d5-wq2lz"), ("identity", "linkerd-identity-5c8d7f9b6-m4k2p"),
        ("proxy-injector", "linkerd-proxy-injector-7d9c8b5f4-x7r2n"),
    ]
    /// Days from the demo's start until its trust anchor expires: inside `linkerd check`'s 60, so
    /// the demo's checks warn of it.
    public static let trustAnchorDays = 20.0
    /// The Deployment that rolls out during the demo.
    public static let rollingWorkload = WorkloadRef(kind: "Deployment", namespace: "emojivoto", name: "voting")
    /// Its pod that runs the new revision from the rollout's second step on (the simulated proxy
    /// stays; its pod moves to the new ReplicaSet).
    public static let rolledPod = "voting-8b4d6f5c7-t3hds"
    static let newReplicaSet = "voting-7f5c9d4b8"

    /// Seconds after the start at which each rollout step happens.
    public var rolloutStart: Double
    private var stepsDone = 0
    private var replicas: [WorkloadRef: Int] = [:]

    public init(rolloutStart: Double = 8) {
        self.rolloutStart = rolloutStart
    }

    /// Creates the control plane and the workloads of `mesh`; `ports[i]` serves `mesh.proxies[i]`.
    public mutating func populate(_ api: FakeKubernetesAPI, mesh: SimulatedMesh, ports: [Int]) {
        // The trust bundle, as Linkerd 2.12+ keeps it (a made-up anchor fails no check but its date).
        let anchor =
            (try? SelfSignedAuthority.pem(commonName: "root.linkerd.cluster.local", untilDays: Self.trustAnchorDays))
            ?? ""
        api.apply(
            ConfigMap(
                metadata: ObjectMeta(name: TrustRootsPermissions.name, namespace: "linkerd"),
                data: [TrustRootsPermissions.key: anchor + "\n"]))
        for (component, pod) in Self.controlPlanePods {
            api.apply(
                Pod(
                    metadata: ObjectMeta(
                        name: pod, namespace: "linkerd",
                        labels: [
                            "linkerd.io/control-plane-component": component, "linkerd.io/control-plane-ns": "linkerd",
                        ],
                        annotations: ["linkerd.io/proxy-version": Self.controlPlaneVersion]),
                    spec: Pod.Spec(
                        nodeName: "demo-node",
                        containers: [
                            // No proxy container: the demo simulates no proxy for it to scrape.
                            Pod.Container(
                                name: component, image: "cr.l5d.io/linkerd/controller:\(Self.controlPlaneVersion)")
                        ]),
                    status: Pod.Status(
                        phase: "Running", podIP: "127.0.0.1", conditions: [Condition(type: "Ready", status: "True")])))
        }
        for (index, proxy) in mesh.proxies.enumerated() {
            let workload = proxy.workload
            replicas[workload, default: 0] += 1
            let setName = String(proxy.podName.split(separator: "-").dropLast().joined(separator: "-"))
            let hash = String(setName.split(separator: "-").last ?? "")
            let version = index == 2 ? Self.outdatedProxyVersion : Self.controlPlaneVersion
            api.apply(
                Pod(
                    metadata: ObjectMeta(
                        name: proxy.podName, namespace: workload.namespace,
                        labels: [
                            "app": workload.name, "pod-template-hash": hash, "linkerd.io/control-plane-ns": "linkerd",
                            "linkerd.io/proxy-deployment": workload.name, "linkerd.io/workload-ns": workload.namespace,
                        ],
                        annotations: [
                            "linkerd.io/proxy-version": version,
                            // Every simulated proxy listens on its own loopback port.
                            "config.linkerd.io/admin-port": String(ports[index]),
                        ],
                        ownerReferences: [
                            OwnerReference(
                                apiVersion: "apps/v1", kind: "ReplicaSet", name: setName, uid: "rs-\(setName)")
                        ]),
                    spec: Pod.Spec(
                        nodeName: "demo-node",
                        containers: [
                            Pod.Container(name: workload.name, image: Self.image(workload, revision: 1)),
                            Pod.Container(
                                name: "linkerd-proxy", image: "cr.l5d.io/linkerd/proxy:\(version)",
                                ports: [Pod.ContainerPort(name: "linkerd-admin", containerPort: 4191)]),
                        ]),
                    status: Pod.Status(
                        phase: "Running", podIP: proxy.podIP, conditions: [Condition(type: "Ready", status: "True")])))
            api.apply(
                ReplicaSet(
                    metadata: ObjectMeta(
                        name: setName, namespace: workload.namespace, uid: "rs-\(setName)",
                        annotations: ["deployment.kubernetes.io/revision": "1"],
                        ownerReferences: [
                            OwnerReference(
                                apiVersion: "apps/v1", kind: "Deployment", name: workload.name,
                                uid: "deploy-\(workload.name)")
                        ]),
                    spec: ReplicaSet.Spec(replicas: replicas[workload], template: template(workload, revision: 1))))
        }
        for (workload, count) in replicas {
            api.apply(
                deployment(
                    workload, generation: 1, observed: 1, revision: 1, total: count, updated: count, available: count))
        }
    }

    /// Moves the rolling Deployment along: the template changes, the controller observes it and
    /// creates the new ReplicaSet, replicas are updated one by one, the old ones go away. Returns
    /// true on the call that moved `rolledPod` to the new revision.
    @discardableResult
    public mutating func advance(_ api: FakeKubernetesAPI, elapsed: Double) -> Bool {
        var moved = false
        let workload = Self.rollingWorkload
        let count = replicas[workload] ?? 2
        let cluster = self
        let steps: [(Double, () -> Void)] = [
            (
                0,
                {
                    api.apply(
                        cluster.deployment(
                            workload, generation: 2, observed: 1, revision: 1, total: count, updated: count,
                            available: count))
                }
            ),
            (
                1,
                {
                    api.apply(
                        ReplicaSet(
                            metadata: ObjectMeta(
                                name: Self.newReplicaSet, namespace: workload.namespace,
                                uid: "rs-\(workload.name)-2",
                                annotations: ["deployment.kubernetes.io/revision": "2"],
                                ownerReferences: [
                                    OwnerReference(
                                        apiVersion: "apps/v1", kind: "Deployment", name: workload.name,
                                        uid: "deploy-\(workload.name)")
                                ]),
                            spec: ReplicaSet.Spec(replicas: count, template: cluster.template(workload, revision: 2))))
                    api.apply(
                        cluster.deployment(
                            workload, generation: 2, observed: 2, revision: 2, total: count + 1, updated: 1,
                            available: count))
                }
            ),
            (
                5,
                {
                    // The first pod of the new revision.
                    if var pod = api.objects(Pod.self).first(where: { $0.metadata.name == Self.rolledPod }) {
                        pod.metadata.labels?["pod-template-hash"] = String(
                            Self.newReplicaSet.split(separator: "-").last!)
                        pod.metadata.ownerReferences = [
                            OwnerReference(
                                apiVersion: "apps/v1", kind: "ReplicaSet", name: Self.newReplicaSet,
                                uid: "rs-\(workload.name)-2")
                        ]
                        api.apply(pod)
                    }
                    api.apply(
                        cluster.deployment(
                            workload, generation: 2, observed: 2, revision: 2, total: count + 1, updated: count,
                            available: count))
                }
            ),
            (
                9,
                {
                    api.apply(
                        cluster.deployment(
                            workload, generation: 2, observed: 2, revision: 2, total: count, updated: count,
                            available: count))
                }
            ),
        ]
        while stepsDone < steps.count, elapsed >= rolloutStart + steps[stepsDone].0 {
            steps[stepsDone].1()
            moved = moved || steps[stepsDone].0 == 5
            stepsDone += 1
        }
        return moved
    }

    static func image(_ workload: WorkloadRef, revision: Int) -> String {
        "docker.l5d.io/buoyantio/\(workload.namespace)-\(workload.name):v\(10 + revision)"
    }

    func template(_ workload: WorkloadRef, revision: Int) -> PodTemplate {
        PodTemplate(
            labels: ["app": workload.name, "app.kubernetes.io/version": "v\(10 + revision)"],
            containers: [Pod.Container(name: workload.name, image: Self.image(workload, revision: revision))])
    }

    func deployment(
        _ workload: WorkloadRef, generation: Int64, observed: Int64, revision: Int, total: Int, updated: Int,
        available: Int
    ) -> Deployment {
        let templateRevision = generation > 1 ? 2 : 1
        return Deployment(
            metadata: ObjectMeta(
                name: workload.name, namespace: workload.namespace, uid: "deploy-\(workload.name)",
                generation: generation,
                annotations: ["deployment.kubernetes.io/revision": String(revision)]),
            spec: Deployment.Spec(
                replicas: replicas[workload] ?? 1, template: template(workload, revision: templateRevision)),
            status: Deployment.Status(
                observedGeneration: observed, replicas: total, updatedReplicas: updated, readyReplicas: available,
                availableReplicas: available,
                conditions: [
                    Condition(
                        type: "Progressing", status: "True",
                        reason: updated < total ? "ReplicaSetUpdated" : "NewReplicaSetAvailable")
                ]))
    }
}

/// The demo's world on loopback, as tests run agents against it.
public struct ServedDemoCluster: Sendable {
    public let mesh: SimulatedMesh
    /// A loopback server per simulated proxy, at the port its pod's admin-port annotation names.
    public let proxies: SimulatedProxyServers
    /// The fake API server holding the demo cluster.
    public let api: FakeKubernetesAPI

    /// Starts the demo mesh's proxies and a fake API (with `behaviour`) populated with the demo
    /// cluster, on the wall clock.
    public static func start(behaviour: FakeKubernetesAPI.Behaviour = FakeKubernetesAPI.Behaviour()) async throws
        -> ServedDemoCluster
    {
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let mesh = SimulatedMesh.demo(startedAt: now())
        let proxies = try await SimulatedProxyServers.start(mesh: mesh, now: now)
        let api = try await FakeKubernetesAPI.start(behaviour: behaviour)
        var cluster = DemoCluster()
        cluster.populate(api, mesh: mesh, ports: proxies.ports)
        return ServedDemoCluster(mesh: mesh, proxies: proxies, api: api)
    }
}
