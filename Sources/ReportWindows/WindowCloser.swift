import ClusterDiscovery
import FathomModel
import Inventory
import KubernetesAPI
import KubernetesModels
import Logging
import MeshHealth
import ReportEncoding
import Reporting
import RouteAggregation
import Synchronization

/// Closes a window: the aggregation, the scrape health, the inventory (from the leader only) and
/// the rollout events become one encoded batch, queued for upload.
public final class WindowCloser: Sendable {
    private let aggregation: WindowAggregation
    private let reporter: Reporter
    private let discovery: Discovery
    private let uploader: Uploader
    private let elector: LeaseElector?
    private let observer: any WindowObserver
    private let lastWindow: LastWindow
    private let logger: Logger
    private let onBatch: @Sendable (QueuedBatch) -> Void
    /// Daemonset mode: the rollout events kept across leadership changes, and the leader term
    /// the last batch was built in.
    private let handover: Mutex<(events: RolloutHandover, term: Int)>
    private let trustAnchorExpiryWarning: @Sendable () -> Double

    /// - Parameters:
    ///   - reportInterval: the report interval at the start, for how long rollout events are
    ///     kept across a leader handover.
    ///   - trustAnchorExpiryWarning: seconds before a trust anchor's expiry that its check warns,
    ///     asked anew at every window (`linkerd.trustAnchorExpiryWarning` reloads).
    public init(
        aggregation: WindowAggregation, reporter: Reporter, discovery: Discovery, uploader: Uploader,
        elector: LeaseElector?, reportInterval: Double,
        trustAnchorExpiryWarning: @escaping @Sendable () -> Double,
        observer: any WindowObserver, lastWindow: LastWindow, logger: Logger,
        onBatch: @escaping @Sendable (QueuedBatch) -> Void
    ) {
        self.trustAnchorExpiryWarning = trustAnchorExpiryWarning
        self.observer = observer
        self.lastWindow = lastWindow
        self.aggregation = aggregation
        self.reporter = reporter
        self.discovery = discovery
        self.uploader = uploader
        self.elector = elector
        self.logger = logger
        self.onBatch = onBatch
        // Kept long enough to outlast a handover: the old leader's lease running out unrenewed,
        // the next election, and a window on each side.
        let lease = elector?.settings.leaseDurationSeconds ?? 15
        handover = Mutex((RolloutHandover(retention: 2 * (lease + reportInterval) + 60), 0))
    }

    /// The rollout events this window reports: all of them from the only agent; in daemonset
    /// mode, from the leader, with those it kept while following and less those an earlier
    /// leader reported (`RolloutHandover`). A new term starts the inventory with a full snapshot:
    /// the SaaS has had another leader's inventory since this agent last sent one.
    /// The note is what the leader leaves in the Lease once the batch is queued.
    private func rolloutEvents(at time: Double) -> (events: [RolloutEvent], leads: Bool, note: String?) {
        let taken = discovery.takeRolloutEvents()
        guard let elector else { return (taken, true, nil) }
        let leadership = elector.leadership
        let (events, note) = handover.withLock { handover -> ([RolloutEvent], String?) in
            guard leadership.leading else {
                handover.events.follow(taken, at: time)
                return ([], nil)
            }
            if handover.term != leadership.term {
                handover.term = leadership.term
                handover.events.adopt(leadership.inheritedNote, at: time)
                reporter.startInventoryAfresh()
            }
            return (handover.events.lead(taken, at: time), handover.events.annotationValue())
        }
        return (events, leadership.leading, note)
    }

    func close(at time: Double) async {
        let closed = await aggregation.closeWindow(at: time)
        var window = closed.window
        var health = closed.health
        Self.numberPeerRevisions(in: &window, from: discovery.replicaSetRevisions)
        health.queuedBatches = await uploader.currentStats.queuedBatches
        health.resources = discovery.watchStates().map { ($0.resource, $0.state.rawValue, $0.message) }
        // In daemonset mode only the leader reports the cluster-wide inventory and rollouts;
        // every agent reports the routes of its own node's pods.
        let (events, leads, note) = rolloutEvents(at: time)
        let inventory = leads && discovery.inventoryReady ? discovery.inventorySnapshot() : nil
        // The cluster-wide checks (the trust anchors too) from the agent that reports the inventory.
        let checks = MeshChecks.evaluate(
            inventory: inventory, certificates: closed.certificates,
            trustAnchors: inventory == nil ? .unknown : discovery.trustAnchors,
            pods: inventory == nil ? [] : discovery.meshedPodIdentities(), refusingScrapes: closed.refusingProxies,
            now: time, expiryWarningSeconds: trustAnchorExpiryWarning())
        lastWindow.checks.withLock { $0 = checks }
        observer.record(checks: checks)
        do {
            let batch = try reporter.encode(
                window: window, health: health, inventory: inventory, rolloutEvents: events, checks: checks)
            await uploader.enqueue(batch)
            if let note { elector?.publish(note: note) }
            onBatch(
                QueuedBatch(
                    batch: batch, window: window, rolloutEvents: events, pageBytes: closed.pageBytes,
                    aggregation: closed.aggregation, targets: health.targets, certificates: closed.certificates,
                    checks: checks))
        } catch {
            observer.encodeFailed("batch")
            logger.error("cannot encode a report batch; its window is lost", metadata: ["error": "\(error)"])
        }
    }
}

extension WindowCloser {
    /// Gives each route whose destination the proxy names by ReplicaSet that ReplicaSet's revision
    /// number, where the inventory holds it: looked up once per window, not per scrape, so a
    /// revision renumbered by `rollout undo` is right in the next batch.
    static func numberPeerRevisions(
        in window: inout AggregationWindow, from revisions: (Set<ObjectKey>) -> [ObjectKey: String]
    ) {
        func replicaSet(of route: RouteWindow) -> ObjectKey? {
            let identity = route.key.identity
            guard !identity.peerReplicaSet.isEmpty, let slash = identity.peer.firstIndex(of: "/") else { return nil }
            return ObjectKey(namespace: String(identity.peer[..<slash]), name: identity.peerReplicaSet)
        }
        let known = revisions(Set(window.routes.compactMap(replicaSet)))
        guard !known.isEmpty else { return }
        for index in window.routes.indices {
            guard let set = replicaSet(of: window.routes[index]), let revision = known[set] else { continue }
            window.routes[index].peerRevision = revision
        }
    }
}

/// A batch the agent just queued, with what went into it.
public struct QueuedBatch: Sendable {
    public var batch: EncodedBatch
    public var window: AggregationWindow
    public var rolloutEvents: [RolloutEvent]
    /// Page bytes scraped during the window.
    public var pageBytes: Int
    public var aggregation: RouteAggregator.Stats
    public var targets: Int
    /// The scraped proxies' identity certificates as the window closed.
    public var certificates: ProxyCertificates.Summary
    /// The mesh's health checks as the window closed.
    public var checks: [MeshCheck]
}

/// Builds batches: the builder's sequence numbers and the inventory's full/delta rhythm.
public final class Reporter: Sendable {
    private let state: Mutex<(BatchBuilder, InventoryReporter)>

    public init(builder: BatchBuilder, inventory: InventoryReporter) {
        state = Mutex((builder, inventory))
    }

    /// The next inventory section is a full snapshot.
    func startInventoryAfresh() {
        state.withLock { $0.1.startAfresh() }
    }

    /// `inventory` is nil until discovery has listed what it can: an inventory missing a resource
    /// that is still being listed is not sent.
    func encode(
        window: AggregationWindow, health: HealthSummary, inventory: InventorySnapshot?, rolloutEvents: [RolloutEvent],
        checks: [MeshCheck]
    ) throws -> EncodedBatch {
        try state.withLock { state in
            let section = inventory.flatMap { state.1.section(for: $0) }
            return try state.0.encode(
                window: window, health: health, inventory: section, rolloutEvents: rolloutEvents, checks: checks)
        }
    }
}
