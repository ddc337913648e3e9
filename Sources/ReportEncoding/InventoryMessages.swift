import FathomModel
import Inventory
import ReportProtos

/// Decides what inventory a batch carries: the full set of workloads (with the control plane and
/// the cluster's proxy versions) on the first batch and every `snapshotEvery` batches (so the
/// SaaS recovers from anything it missed), and only what changed in between; nothing when
/// nothing changed.
public struct InventoryReporter: Sendable {
    public let snapshotEvery: Int
    private var sent: [WorkloadRef: Fathom_Agent_V1_Workload] = [:]
    private var sentControlPlane: Fathom_Agent_V1_ControlPlane?
    private var sentVersions: [Fathom_Agent_V1_VersionCount] = []
    private var batchesSinceSnapshot: Int?

    public init(snapshotEvery: Int) {
        self.snapshotEvery = max(1, snapshotEvery)
    }

    /// Makes the next section a full snapshot (a daemonset agent starting a term as leader).
    public mutating func startAfresh() {
        batchesSinceSnapshot = nil
    }

    /// The inventory section for the next batch, given every workload now.
    public mutating func section(for workloads: [WorkloadSummary]) -> Fathom_Agent_V1_Inventory? {
        section(
            for: InventorySnapshot(
                workloads: workloads, controlPlane: ControlPlaneSummary(namespace: "", version: nil, pods: []),
                proxyVersions: [:]))
    }

    /// The inventory section for the next batch, given the inventory now.
    public mutating func section(for snapshot: InventorySnapshot) -> Fathom_Agent_V1_Inventory? {
        let workloads = snapshot.workloads
        let current = Dictionary(
            workloads.map { ($0.workload, Fathom_Agent_V1_Workload($0)) }, uniquingKeysWith: { first, _ in first })
        let controlPlane = Fathom_Agent_V1_ControlPlane(snapshot.controlPlane)
        let versions = Fathom_Agent_V1_VersionCount.counts(snapshot.proxyVersions)
        defer {
            sent = current
            sentControlPlane = controlPlane
            sentVersions = versions
        }
        if batchesSinceSnapshot.map({ $0 + 1 >= snapshotEvery }) ?? true {
            batchesSinceSnapshot = 0
            return .with {
                $0.kind = .full
                $0.upserted = workloads.compactMap { current[$0.workload] }
                $0.controlPlane = controlPlane
                $0.proxyVersions = versions
            }
        }
        batchesSinceSnapshot! += 1
        let changed = workloads.map(\.workload).filter { current[$0] != sent[$0] }
        let deleted = sent.keys.filter { current[$0] == nil }.sorted()
        let controlPlaneChanged = controlPlane != sentControlPlane
        let versionsChanged = versions != sentVersions
        if changed.isEmpty && deleted.isEmpty && !controlPlaneChanged && !versionsChanged { return nil }
        return .with {
            $0.kind = .delta
            $0.upserted = changed.compactMap { current[$0] }
            $0.deleted = deleted.map(Fathom_Agent_V1_WorkloadRef.init)
            if controlPlaneChanged { $0.controlPlane = controlPlane }
            if versionsChanged { $0.proxyVersions = versions }
        }
    }
}

extension Fathom_Agent_V1_WorkloadRef {
    public init(_ workload: WorkloadRef) {
        self.init()
        kind = workload.kind
        namespace = workload.namespace
        name = workload.name
    }
}

extension Fathom_Agent_V1_Workload {
    public init(_ summary: WorkloadSummary) {
        self.init()
        ref = Fathom_Agent_V1_WorkloadRef(summary.workload)
        replicasDesired = Int32(clamping: summary.desiredReplicas)
        replicasReady = Int32(clamping: summary.readyReplicas)
        replicasUpdated = Int32(clamping: summary.updatedReplicas)
        replicasAvailable = Int32(clamping: summary.availableReplicas)
        images = summary.images
        versionLabel = summary.version ?? ""
        revision = summary.rollout?.revision ?? ""
        meshedPods = Int32(clamping: summary.meshedPods)
        proxyVersions = Fathom_Agent_V1_VersionCount.counts(summary.proxyVersions)
        podsWithOutdatedProxy = summary.outdatedProxyPods
        podPhases = Fathom_Agent_V1_NameCount.counts(summary.podPhases)
        failedPodReasons = Fathom_Agent_V1_NameCount.counts(summary.failedPodReasons)
        proxyBuildVersions = Fathom_Agent_V1_VersionCount.counts(summary.proxyBuildVersions)
        if let state = summary.rolloutState { rollout = Fathom_Agent_V1_RolloutState(state) }
    }
}

extension Fathom_Agent_V1_VersionCount {
    /// Counts per version, in version order.
    static func counts(_ counts: [String: Int]) -> [Self] {
        counts.keys.sorted().map { version in
            .with {
                $0.version = version
                $0.pods = Int32(clamping: counts[version]!)
            }
        }
    }
}

extension Fathom_Agent_V1_NameCount {
    static func counts(_ counts: [String: Int]) -> [Self] {
        counts.keys.sorted().map { name in
            .with {
                $0.name = name
                $0.count = Int32(clamping: counts[name]!)
            }
        }
    }
}

extension Fathom_Agent_V1_ControlPlane {
    public init(_ summary: ControlPlaneSummary) {
        self.init()
        namespace = summary.namespace
        version = summary.version ?? ""
        pods = summary.pods.map { pod in
            .with {
                $0.name = pod.name
                $0.component = pod.component
                $0.version = pod.version ?? ""
                $0.phase = pod.phase
                $0.ready = pod.ready
            }
        }
    }
}

extension Fathom_Agent_V1_RolloutState {
    public init(_ state: RolloutState) {
        self.init()
        phase =
            switch state.phase {
            case .progressing: .progressing
            case .paused: .paused
            case .complete: .complete
            case .failed: .failed
            }
        revision = state.revision
        fromRevision = state.fromRevision ?? ""
        images = state.images
        fromImages = state.fromImages
        startedUnixMs = state.startedAt.map(BatchBuilder.milliseconds) ?? 0
        lastTransitionUnixMs = state.lastTransitionAt.map(BatchBuilder.milliseconds) ?? 0
        message = state.message ?? ""
        active = state.active
    }
}

extension Fathom_Agent_V1_RolloutEvent {
    public init(_ event: RolloutEvent) {
        self.init()
        workload = Fathom_Agent_V1_WorkloadRef(event.workload)
        phase =
            switch event.kind {
            case .started: .started
            case .progressed: .progressing
            case .completed: .completed
            case .failed: .failed
            case .rolledBack: .rolledBack
            }
        fromRevision = event.fromRevision ?? ""
        toRevision = event.toRevision
        fromImages = event.fromImages
        toImages = event.toImages
        startedUnixMs = event.startedAt.map(BatchBuilder.milliseconds) ?? 0
        observedUnixMs = BatchBuilder.milliseconds(event.at)
        message = event.message ?? ""
        replicasDesired = Int32(clamping: event.desiredReplicas)
        replicasUpdated = Int32(clamping: event.updatedReplicas)
        replicasReady = Int32(clamping: event.readyReplicas)
        replicasAvailable = Int32(clamping: event.availableReplicas)
        id = event.identity
    }
}
