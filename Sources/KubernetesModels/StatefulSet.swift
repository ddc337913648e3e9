/// A StatefulSet: replicas, template, generations and its current and update revisions.
public typealias StatefulSet = KubernetesResource<StatefulSetDefinition>

/// What makes a `StatefulSet`: where the API serves it, its spec and its status.
public enum StatefulSetDefinition: ResourceDefinition {
    public static let resource = ResourceDescriptor(
        group: "apps", version: "v1", plural: "statefulsets", kind: "StatefulSet")
    public static let emptyStatus = Status()

    public struct Spec: Codable, Sendable, Equatable {
        public var replicas: Int?
        public var template: PodTemplate
        /// `updateStrategy.rollingUpdate.partition`: ordinals below it keep the old revision.
        public var partition: Int?
        public init(replicas: Int? = 1, template: PodTemplate, partition: Int? = nil) {
            self.replicas = replicas
            self.template = template
            self.partition = partition
        }
        private enum CodingKeys: String, CodingKey { case replicas, template, updateStrategy }
        private struct UpdateStrategy: Codable, Equatable {
            struct RollingUpdate: Codable, Equatable { var partition: Int? }
            var rollingUpdate: RollingUpdate?
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            replicas = try container.decodeIfPresent(Int.self, forKey: .replicas)
            template = try container.decode(PodTemplate.self, forKey: .template)
            partition = try container.decodeIfPresent(UpdateStrategy.self, forKey: .updateStrategy)?.rollingUpdate?
                .partition
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(replicas, forKey: .replicas)
            try container.encode(template, forKey: .template)
            if let partition {
                try container.encode(
                    UpdateStrategy(rollingUpdate: .init(partition: partition)), forKey: .updateStrategy)
            }
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var observedGeneration: Int64?
        public var replicas: Int?
        public var readyReplicas: Int?
        public var updatedReplicas: Int?
        public var availableReplicas: Int?
        public var currentRevision: String?
        public var updateRevision: String?
        public init(
            observedGeneration: Int64? = nil, replicas: Int? = nil, readyReplicas: Int? = nil,
            updatedReplicas: Int? = nil, availableReplicas: Int? = nil, currentRevision: String? = nil,
            updateRevision: String? = nil
        ) {
            self.observedGeneration = observedGeneration
            self.replicas = replicas
            self.readyReplicas = readyReplicas
            self.updatedReplicas = updatedReplicas
            self.availableReplicas = availableReplicas
            self.currentRevision = currentRevision
            self.updateRevision = updateRevision
        }
    }
}

extension StatefulSetDefinition: WorkloadDefinition {
    public static let revisionsResource: ResourceDescriptor? = ControllerRevision.resource
    /// A StatefulSet's pods carry their revision's full name (`db-6dc67b5dc`).
    public static let podRevisionLabel: String? = "controller-revision-hash"
    public static func podTemplate(of statefulSet: StatefulSet) -> PodTemplate? { statefulSet.spec.template }
    public static func replicaCounts(of statefulSet: StatefulSet) -> ReplicaCounts {
        let status = statefulSet.status
        let ready = status.readyReplicas ?? 0
        return ReplicaCounts(
            desired: statefulSet.spec.replicas ?? 1, ready: ready, updated: status.updatedReplicas ?? 0,
            available: status.availableReplicas ?? ready)
    }

    /// A StatefulSet, with the ControllerRevisions it owns: complete, as `kubectl rollout status`
    /// says, once the spec is observed, every replica is ready and, with a partition, the
    /// ordinals above it are updated ("partitioned roll out complete"), or without one the current
    /// revision is the update revision.
    public static func rolloutObservation(of statefulSet: StatefulSet, revisions: OwnedRevisions)
        -> RolloutObservation?
    {
        let (metadata, spec, status) = (statefulSet.metadata, statefulSet.spec, statefulSet.status)
        let owned = revisions.controllerRevisions
        let desired = spec.replicas ?? 1
        let updated = status.updatedReplicas ?? 0
        let ready = status.readyReplicas ?? 0
        let observed =
            (status.observedGeneration ?? 0) > 0 && RolloutObservation.isObserved(metadata, status.observedGeneration)
        let updateRevision = status.updateRevision ?? ""
        let complete: Bool
        var message: String?
        if let partition = spec.partition, partition > 0 {
            complete = observed && ready >= desired && updated >= desired - partition
            if complete { message = "partitioned roll out complete: \(updated) of \(desired) pods updated" }
        } else {
            complete = observed && ready >= desired && updated >= desired && status.currentRevision == updateRevision
        }
        func number(_ name: String?) -> String? {
            guard let name else { return nil }
            return owned.first { $0.metadata.name == name }.map { String($0.revision) } ?? name
        }
        let current = owned.first { $0.metadata.name == updateRevision }
        return RolloutObservation(
            revision: number(updateRevision) ?? "", images: spec.template.images,
            phase: complete ? .complete : .progressing, desired: desired, updated: updated, ready: ready,
            available: status.availableReplicas ?? ready, observed: observed, message: message,
            previousRevision: status.currentRevision == updateRevision ? nil : number(status.currentRevision),
            revisionCreated: current?.metadata.creationTimestamp, resourceVersion: metadata.resourceVersion,
            partition: spec.partition,
            // Pods of the current revision remain to be replaced (a scale-up leaves none).
            replacing: status.currentRevision != updateRevision)
    }
}
