/// A DaemonSet: template, generations and scheduled/updated/available counts.
public typealias DaemonSet = KubernetesResource<DaemonSetDefinition>

/// What makes a `DaemonSet`: where the API serves it, its spec and its status.
public enum DaemonSetDefinition: ResourceDefinition {
    public static let resource = ResourceDescriptor(
        group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet")
    public static let emptyStatus = Status()

    public struct Spec: Codable, Sendable, Equatable {
        public var template: PodTemplate
        public init(template: PodTemplate) { self.template = template }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var observedGeneration: Int64?
        public var desiredNumberScheduled: Int?
        public var currentNumberScheduled: Int?
        public var updatedNumberScheduled: Int?
        public var numberReady: Int?
        public var numberAvailable: Int?
        public init(
            observedGeneration: Int64? = nil, desiredNumberScheduled: Int? = nil, currentNumberScheduled: Int? = nil,
            updatedNumberScheduled: Int? = nil, numberReady: Int? = nil, numberAvailable: Int? = nil
        ) {
            self.observedGeneration = observedGeneration
            self.desiredNumberScheduled = desiredNumberScheduled
            self.currentNumberScheduled = currentNumberScheduled
            self.updatedNumberScheduled = updatedNumberScheduled
            self.numberReady = numberReady
            self.numberAvailable = numberAvailable
        }
    }
}

extension DaemonSetDefinition: WorkloadDefinition {
    public static let revisionsResource: ResourceDescriptor? = ControllerRevision.resource
    /// A DaemonSet's pods carry their revision's hash.
    public static let podRevisionLabel: String? = "controller-revision-hash"
    public static func podTemplate(of daemonSet: DaemonSet) -> PodTemplate? { daemonSet.spec.template }
    public static func replicaCounts(of daemonSet: DaemonSet) -> ReplicaCounts {
        let status = daemonSet.status
        return ReplicaCounts(
            desired: status.desiredNumberScheduled ?? 0, ready: status.numberReady ?? 0,
            updated: status.updatedNumberScheduled ?? 0, available: status.numberAvailable ?? 0)
    }

    /// A DaemonSet, with the ControllerRevisions it owns: its current revision is the
    /// highest-numbered one (a DaemonSet's status names none), so an edit that leaves the pod
    /// template alone changes nothing, and `rollout undo` (an old revision renumbered) is seen.
    public static func rolloutObservation(of daemonSet: DaemonSet, revisions: OwnedRevisions)
        -> RolloutObservation?
    {
        let (metadata, spec, status) = (daemonSet.metadata, daemonSet.spec, daemonSet.status)
        let owned = revisions.controllerRevisions
        let desired = status.desiredNumberScheduled ?? 0
        let updated = status.updatedNumberScheduled ?? 0
        let available = status.numberAvailable ?? 0
        let observed = RolloutObservation.isObserved(metadata, status.observedGeneration)
        let complete = observed && updated >= desired && available >= desired
        let ordered = owned.sorted { $0.revision > $1.revision }
        let current = ordered.first
        let previous = ordered.dropFirst().first
        return RolloutObservation(
            // Without its ControllerRevisions (not yet listed, or forbidden) the generation stands in.
            revision: current.map { String($0.revision) } ?? String(metadata.generation ?? 0),
            images: spec.template.images, phase: complete ? .complete : .progressing, desired: desired,
            updated: updated, ready: status.numberReady ?? 0, available: available, observed: observed,
            previousRevision: previous.map { String($0.revision) },
            revisionCreated: current?.metadata.creationTimestamp, resourceVersion: metadata.resourceVersion,
            // Nodes still run a pod of an older revision (a new node's pod is updated at once).
            replacing: updated < desired)
    }
}
