import KubernetesModels

/// Small builders for the objects the tests feed the inventory, shaped like the API's.
enum Build {
    static func meshedPod(
        _ name: String, namespace: String = "shop", owner: (kind: String, name: String)?,
        version: String = "stable-2.14.10",
        ip: String? = "10.1.0.1", labels: [String: String] = [:], controlPlaneComponent: String? = nil
    ) -> Pod {
        var allLabels = labels
        allLabels["linkerd.io/control-plane-ns"] = "linkerd"
        if let controlPlaneComponent { allLabels["linkerd.io/control-plane-component"] = controlPlaneComponent }
        return Pod(
            metadata: ObjectMeta(
                name: name, namespace: namespace, uid: "uid-\(name)", labels: allLabels,
                annotations: ["linkerd.io/proxy-version": version],
                ownerReferences: owner.map {
                    [OwnerReference(apiVersion: "apps/v1", kind: $0.kind, name: $0.name, uid: "uid-\($0.name)")]
                }),
            spec: Pod.Spec(
                nodeName: "node-1",
                containers: [
                    Pod.Container(name: "app", image: "shop/\(name):1"),
                    Pod.Container(
                        name: "linkerd-proxy", image: "cr.l5d.io/linkerd/proxy:\(version)",
                        ports: [Pod.ContainerPort(name: "linkerd-admin", containerPort: 4191)]),
                ]),
            status: Pod.Status(phase: "Running", podIP: ip, conditions: [Condition(type: "Ready", status: "True")]))
    }

    static func template(_ images: [String], version: String? = nil) -> PodTemplate {
        PodTemplate(
            labels: version.map { ["app.kubernetes.io/version": $0] },
            containers: images.enumerated().map { Pod.Container(name: "c\($0.offset)", image: $0.element) })
    }

    static func replicaSet(
        _ name: String, namespace: String = "shop", deployment: String, revision: String, images: [String],
        history: String? = nil, ownerKind: String = "Deployment"
    ) -> ReplicaSet {
        var annotations = ["deployment.kubernetes.io/revision": revision]
        if let history { annotations["deployment.kubernetes.io/revision-history"] = history }
        return ReplicaSet(
            metadata: ObjectMeta(
                name: name, namespace: namespace, uid: "uid-\(name)", annotations: annotations,
                ownerReferences: [
                    OwnerReference(apiVersion: "apps/v1", kind: ownerKind, name: deployment, uid: "uid-\(deployment)")
                ]),
            spec: ReplicaSet.Spec(replicas: 3, template: template(images)))
    }

    /// A Deployment as the controller reports it: `generation`, `observedGeneration`, the revision
    /// annotation and replica counts.
    static func deployment(
        _ name: String = "web", namespace: String = "shop", generation: Int64, observed: Int64, revision: String?,
        images: [String], replicas: Int = 3, total: Int, updated: Int, available: Int, deadlineExceeded: Bool = false
    ) -> Deployment {
        var conditions = [Condition(type: "Available", status: available >= replicas ? "True" : "False")]
        conditions.append(
            deadlineExceeded
                ? Condition(
                    type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded",
                    message: "ReplicaSet \"\(name)-x\" has timed out progressing.")
                : Condition(type: "Progressing", status: "True", reason: "NewReplicaSetAvailable"))
        return Deployment(
            metadata: ObjectMeta(
                name: name, namespace: namespace, uid: "uid-\(name)", generation: generation,
                annotations: revision.map { ["deployment.kubernetes.io/revision": $0] }),
            spec: Deployment.Spec(replicas: replicas, template: template(images, version: "1.0")),
            status: Deployment.Status(
                observedGeneration: observed, replicas: total, updatedReplicas: updated, readyReplicas: available,
                availableReplicas: available, conditions: conditions))
    }
}
