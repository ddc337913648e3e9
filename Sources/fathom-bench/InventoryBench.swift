// The inventory's memory for a cluster of N pods: a child process (this binary with
// --serve-cluster N) serves a synthetic cluster through the fake API server over loopback; this
// process runs the agent's own discovery against it (every watched resource, the inventory, the
// scrape targets it publishes) and reports the resident memory and heap that costs. The server lives in its own process so its objects are not
// counted.
import AllocationCounter
import ClusterDiscovery
import FathomModel
import Foundation
import Inventory
import KubernetesAPI
import KubernetesModels
import LocalServers
import Logging
import Synchronization

/// Objects shaped like a real meshed cluster's: 20 pods per Deployment, 25 Deployments per
/// namespace, each pod as the proxy injector leaves it (with the large annotations real pods carry).
struct SyntheticCluster {
    var pods: [Pod] = []
    var replicaSets: [ReplicaSet] = []
    var deployments: [Deployment] = []

    /// - Parameter adminPorts: when given, pod `i` is at 127.0.0.1 and its proxy's admin port is
    ///   `adminPorts[i]` (the agent fleet benchmark, where each proxy is a loopback server).
    init(podCount: Int, adminPorts: [Int]? = nil) {
        let lastApplied = String(repeating: "x", count: 2_000)
        let trustAnchors =
            "-----BEGIN CERTIFICATE-----\n"
            + (0..<11).map { _ in String(repeating: "M", count: 64) }.joined(separator: "\n")
            + "\n-----END CERTIFICATE-----\n"
        let deploymentCount = max(1, podCount / 20)
        for index in 0..<deploymentCount {
            let namespace = "team-\(index / 25)"
            let name = "service-\(index)"
            let hash = String(format: "%08x", index &* 2_654_435_761 & 0xffff_ffff)
            let template = PodTemplate(
                labels: ["app": name, "app.kubernetes.io/version": "1.\(index % 7)"],
                containers: [Pod.Container(name: "app", image: "registry.example/\(name):1.\(index % 7)")])
            deployments.append(
                Deployment(
                    metadata: ObjectMeta(
                        name: name, namespace: namespace, uid: "d-\(index)", generation: 3,
                        labels: ["app": name], annotations: ["deployment.kubernetes.io/revision": "3"]),
                    spec: Deployment.Spec(replicas: 20, template: template),
                    status: Deployment.Status(
                        observedGeneration: 3, replicas: 20, updatedReplicas: 20, readyReplicas: 20,
                        availableReplicas: 20,
                        conditions: [
                            Condition(type: "Available", status: "True", reason: "MinimumReplicasAvailable"),
                            Condition(type: "Progressing", status: "True", reason: "NewReplicaSetAvailable"),
                        ])))
            replicaSets.append(
                ReplicaSet(
                    metadata: ObjectMeta(
                        name: "\(name)-\(hash)", namespace: namespace, uid: "rs-\(index)",
                        labels: ["app": name, "pod-template-hash": hash],
                        annotations: ["deployment.kubernetes.io/revision": "3"],
                        ownerReferences: [
                            OwnerReference(apiVersion: "apps/v1", kind: "Deployment", name: name, uid: "d-\(index)")
                        ]),
                    spec: ReplicaSet.Spec(replicas: 20, template: template),
                    status: ReplicaSet.Status(replicas: 20, readyReplicas: 20, availableReplicas: 20)))
        }
        for index in 0..<podCount {
            let owner = index / 20 % deploymentCount
            let set = replicaSets[owner]
            let name = deployments[owner].metadata.name
            pods.append(
                Pod(
                    metadata: ObjectMeta(
                        name: "\(set.metadata.name)-\(String(index, radix: 36))", namespace: set.metadata.namespace,
                        uid: "p-\(index)",
                        labels: [
                            "app": name, "pod-template-hash": set.metadata.label("pod-template-hash") ?? "",
                            "linkerd.io/control-plane-ns": "linkerd", "linkerd.io/proxy-deployment": name,
                            "linkerd.io/workload-ns": set.metadata.namespace ?? "",
                            "app.kubernetes.io/version": "1.\(owner % 7)",
                        ],
                        annotations: [
                            "linkerd.io/created-by": "linkerd/proxy-injector stable-2.14.10",
                            "linkerd.io/proxy-version": index % 10 == 0 ? "stable-2.13.4" : "stable-2.14.10",
                            "linkerd.io/trust-root-sha256": String(repeating: "ab", count: 32),
                            "kubectl.kubernetes.io/last-applied-configuration": lastApplied,
                            "linkerd.io/inject": "enabled",
                        ].merging(adminPorts.map { ["config.linkerd.io/admin-port": String($0[index])] } ?? [:]) { $1 },
                        ownerReferences: [
                            OwnerReference(
                                apiVersion: "apps/v1", kind: "ReplicaSet", name: set.metadata.name,
                                uid: set.metadata.uid)
                        ]),
                    spec: Pod.Spec(
                        nodeName: "node-\(index % 50)",
                        containers: [
                            Pod.Container(
                                name: "linkerd-proxy", image: "cr.l5d.io/linkerd/proxy:stable-2.14.10",
                                ports: [
                                    Pod.ContainerPort(name: "linkerd-proxy", containerPort: 4143),
                                    Pod.ContainerPort(name: "linkerd-admin", containerPort: 4191),
                                ],
                                // As the injector inlines them: the bundle (one P-256 anchor's
                                // size) and the default policy.
                                proxyEnvironment: [
                                    "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS": trustAnchors,
                                    "LINKERD2_PROXY_INBOUND_DEFAULT_POLICY": "all-unauthenticated",
                                ]),
                            Pod.Container(
                                name: "app", image: "registry.example/\(name):1.\(owner % 7)",
                                ports: [Pod.ContainerPort(name: "http", containerPort: 8080)]),
                        ],
                        initContainers: [
                            Pod.Container(name: "linkerd-init", image: "cr.l5d.io/linkerd/proxy-init:v2.2.3")
                        ]),
                    status: Pod.Status(
                        phase: "Running",
                        podIP: adminPorts == nil
                            ? "10.\(index / 65_536 % 256).\(index / 256 % 256).\(index % 256)" : "127.0.0.1",
                        startTime: "2026-11-20T09:12:03Z",
                        conditions: ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map {
                            Condition(type: $0, status: "True")
                        },
                        containerStatuses: [
                            Pod.ContainerStatus(
                                name: "linkerd-proxy", ready: true, image: "cr.l5d.io/linkerd/proxy:stable-2.14.10"),
                            Pod.ContainerStatus(
                                name: "app", ready: true, image: "registry.example/\(name):1.\(owner % 7)"),
                        ])))
        }
    }
}

/// Child process: serve the synthetic cluster, print the port, then change a few pods every
/// 100 ms (so the parent's watches carry traffic) until killed.
func serveCluster(pods podCount: Int) async -> Never {
    let cluster = SyntheticCluster(podCount: podCount)
    do {
        let api = try await FakeKubernetesAPI.start()
        for deployment in cluster.deployments { api.apply(deployment) }
        for set in cluster.replicaSets { api.apply(set) }
        for pod in cluster.pods { api.apply(pod) }
        FileHandle.standardOutput.write(Data("port \(api.port)\n".utf8))
        var round = 0
        while true {
            try await Task.sleep(for: .milliseconds(100))
            for offset in 0..<10 {
                var pod = cluster.pods[(round * 10 + offset) % cluster.pods.count]
                pod.status.containerStatuses?[1].restartCount = round
                api.apply(pod)
            }
            round += 1
        }
    } catch {
        FileHandle.standardError.write(Data("serve-cluster: \(error)\n".utf8))
        exit(1)
    }
}

/// Starts this binary as a child with `arguments` (a stand-in server) and returns it with the
/// first line it prints (where it listens); exits when it cannot start.
func startServingChild(_ arguments: [String]) -> (Process, String) {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments = arguments
    let output = Pipe()
    child.standardOutput = output
    do {
        try child.run()
    } catch {
        FileHandle.standardError.write(Data("cannot start \(arguments.joined(separator: " ")): \(error)\n".utf8))
        exit(1)
    }
    var line = ""
    while !line.hasSuffix("\n") {
        let byte = output.fileHandleForReading.readData(ofLength: 1)
        if byte.isEmpty { break }
        line += String(decoding: byte, as: UTF8.self)
    }
    return (child, line)
}

/// Bytes the allocator has handed out and not yet taken back.
func heapInUse() -> Int { Int(fathom_heap_bytes_in_use()) }

/// Parent process: list and watch the child's cluster into an inventory; report memory.
func measureInventory(pods podCount: Int, watchSeconds: Int) async {
    let (child, line) = startServingChild(["--serve-cluster", String(podCount)])
    defer { child.terminate() }
    guard let port = Int(line.dropFirst("port ".count).trimmingCharacters(in: .whitespacesAndNewlines)) else {
        FileHandle.standardError.write(Data("the cluster server did not start\n".utf8))
        exit(1)
    }

    let residentBefore = residentBytes()
    let heapBefore = heapInUse()
    let events = EventCount()
    let clock = ContinuousClock()
    let started = clock.now
    var syncSeconds = 0.0
    var residentAtSync = 0
    var podsHeld = 0
    var targets = 0
    var residentAfter = 0
    var heapAfter = 0
    do {
        let client = try KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:\(port)"))
        var quiet = Logger(label: "bench")
        quiet.logLevel = .error
        let discovery = Discovery(
            client: client, settings: InventorySettings(), logger: quiet, observer: events, now: { 0 })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await discovery.run(publishInterval: 0.05) { _ in } }
            // Synced: every watched resource listed (or found not served), as readiness says.
            while discovery.notReadyReason != nil { try await Task.sleep(for: .milliseconds(20)) }
            syncSeconds = (clock.now - started).inSeconds
            residentAtSync = residentBytes()
            try await Task.sleep(for: .seconds(watchSeconds))
            podsHeld = events.objects.withLock { $0["pods"] ?? 0 }
            targets = discovery.scrapeCandidates().count
            // Measured while discovery still holds the inventory.
            residentAfter = residentBytes()
            heapAfter = heapInUse()
            group.cancelAll()
        }
        try await client.shutdown()
    } catch is CancellationError {
    } catch {
        FileHandle.standardError.write(Data("inventory benchmark: \(error)\n".utf8))
        exit(1)
    }
    print(
        "| pods | list+sync s | watch events in \(watchSeconds) s | scrape targets | RSS growth at sync MB | "
            + "RSS MB | RSS growth MB | heap in use growth MB |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        "| \(podsHeld) | \(String(format: "%.2f", syncSeconds)) | \(events.count.withLock { $0 }) | \(targets) | "
            + "\((residentAtSync - residentBefore) / 1_000_000) | "
            + "\(residentAfter / 1_000_000) | \((residentAfter - residentBefore) / 1_000_000) | "
            + "\((heapAfter - heapBefore) / 1_000_000) |")
}

/// Counts the watch events discovery receives and keeps its latest object counts.
final class EventCount: DiscoveryObserver {
    let count = Mutex(0)
    let objects = Mutex<[String: Int]>([:])
    func watchEventCounter(resource: String) -> @Sendable (String) -> Void {
        { _ in self.count.withLock { $0 += 1 } }
    }
    func watchRestarted(resource: String, reason: String) {}
    func watchStateChanged(resource: String, to state: ResourceWatchState) {}
    func inventoryCounted(_ counts: [String: Int]) { objects.withLock { $0 = counts } }
    func rolloutTransition(_ phase: RolloutEvent.Kind) {}
    func targetsPublished(_ count: Int) {}
}
