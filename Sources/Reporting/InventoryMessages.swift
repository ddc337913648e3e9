import FathomModel
import Inventory
import ReportProtos

/// Decides what inventory a batch carries: the full set of workloads on the first batch and every
/// `snapshotEvery` batches (so the SaaS recovers from anything it missed), and only what changed in
/// between; nothing when nothing changed.
public struct InventoryReporter: Sendable {
    public let snapshotEvery: Int
    private var sent: [WorkloadRef: Fathom_Agent_V1_Workload] = [:]
    private var batchesSinceSnapshot: Int?

    public init(snapshotEvery: Int) {
        self.snapshotEvery = max(1, snapshotEvery)
    }

    /// The inventory section for the next batch, given every workload now.
    public mutating func section(for workloads: [WorkloadSummary]) -> Fathom_Agent_V1_Inventory? {
        let current = Dictionary(
            workloads.map { ($0.workload, Fathom_Agent_V1_Workload($0)) }, uniquingKeysWith: { first, _ in first })
        defer { sent = current }
        if batchesSinceSnapshot.map({ $0 + 1 >= snapshotEvery }) ?? true {
            batchesSinceSnapshot = 0
            return .with {
                $0.kind = .full
                $0.upserted = workloads.compactMap { current[$0.workload] }
            }
        }
        batchesSinceSnapshot! += 1
        let changed = workloads.map(\.workload).filter { current[$0] != sent[$0] }
        let deleted = sent.keys.filter { current[$0] == nil }.sorted()
        if changed.isEmpty && deleted.isEmpty { return nil }
        return .with {
            $0.kind = .delta
            $0.upserted = changed.compactMap { current[$0] }
            $0.deleted = deleted.map(Fathom_Agent_V1_WorkloadRef.init)
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
        proxyVersions = summary.proxyVersions.keys.sorted().map { version in
            .with {
                $0.version = version
                $0.pods = Int32(clamping: summary.proxyVersions[version]!)
            }
        }
        podsWithOutdatedProxy = summary.outdatedProxyPods
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
    }
}
