import Foundation
import NIOHTTP1
import Synchronization

/// The scheduler and kubelet a real cluster would have, reduced to what the agent sees of them:
/// every few hundred milliseconds it binds unscheduled pods to one node, writes a new pod's
/// status as running and ready (with `podIP`), and finishes the deletion of pods being deleted
/// (as a kubelet does once their containers stopped). `evict` writes what the kubelet's eviction
/// manager writes: phase Failed, reason Evicted, and the pod stays.
final class StandInKubelet: Sendable {
    static let node = "node-a"
    let cluster: RealCluster
    let podIP: String
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// Requests that failed (the API server being down is expected in the restart scenario).
    let failures = Atomic<Int>(0)

    init(cluster: RealCluster, podIP: String = "127.0.0.1") {
        self.cluster = cluster
        self.podIP = podIP
    }

    func start() {
        task.withLock { task in
            task = Task {
                while !Task.isCancelled {
                    do { try await self.tick() } catch { self.failures.add(1, ordering: .relaxed) }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    func stop() async {
        let running = task.withLock { task in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
    }

    /// One pass over every pod of the cluster.
    func tick() async throws {
        let (status, body) = try await cluster.request(.GET, "/api/v1/pods")
        guard status == 200, let items = (body as? [String: Any])?["items"] as? [[String: Any]] else { return }
        for pod in items {
            let metadata = pod["metadata"] as? [String: Any] ?? [:]
            let spec = pod["spec"] as? [String: Any] ?? [:]
            let podStatus = pod["status"] as? [String: Any] ?? [:]
            guard let name = metadata["name"] as? String, let namespace = metadata["namespace"] as? String else {
                continue
            }
            let path = "/api/v1/namespaces/\(namespace)/pods/\(name)"
            if metadata["deletionTimestamp"] != nil {
                try await cluster.request(
                    .DELETE, path, json: ["apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0])
            } else if spec["nodeName"] == nil {
                try await cluster.request(
                    .POST, path + "/binding",
                    json: [
                        "apiVersion": "v1", "kind": "Binding", "metadata": ["name": name],
                        "target": ["apiVersion": "v1", "kind": "Node", "name": Self.node],
                    ])
            } else if (podStatus["phase"] as? String ?? "Pending") == "Pending" {
                let now = ISO8601DateFormatter().string(from: Date())
                try await cluster.request(
                    .PATCH, path + "/status",
                    json: [
                        "status": [
                            "phase": "Running", "podIP": podIP, "podIPs": [["ip": podIP]], "startTime": now,
                            "conditions": [
                                ["type": "PodScheduled", "status": "True", "lastTransitionTime": now],
                                ["type": "Initialized", "status": "True", "lastTransitionTime": now],
                                ["type": "ContainersReady", "status": "True", "lastTransitionTime": now],
                                ["type": "Ready", "status": "True", "lastTransitionTime": now],
                            ],
                        ]
                    ], contentType: "application/strategic-merge-patch+json")
            }
        }
    }

    /// What the kubelet writes when it evicts a pod under node pressure.
    func evict(namespace: String, name: String) async throws {
        let now = ISO8601DateFormatter().string(from: Date())
        try await cluster.patch(
            "/api/v1/namespaces/\(namespace)/pods/\(name)/status",
            [
                "status": [
                    "phase": "Failed", "reason": "Evicted",
                    "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 64Mi.",
                    "conditions": [
                        ["type": "Ready", "status": "False", "lastTransitionTime": now],
                        ["type": "ContainersReady", "status": "False", "lastTransitionTime": now],
                        [
                            "type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                            "lastTransitionTime": now,
                        ],
                    ],
                ]
            ])
    }
}
