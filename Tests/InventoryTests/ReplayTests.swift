import FathomModel
import Inventory
import KubernetesModels
import Testing

/// The inventory and the rollout tracker on watch streams recorded from a real kube-apiserver and
/// kube-controller-manager v1.28.7 (`../shared/fixtures/kubernetes/`, whose `steps.md` say what
/// was done and what `kubectl rollout status` answered): the events each scenario must give, and
/// the inventory it must end with.
@Suite struct ReplayTests {
    /// Kind, revisions and images of the events, one string each: `started 1→2 a:1.0→a:2.0`.
    static func moves(_ replay: Replay, _ workload: String) -> [String] {
        replay.events.filter { $0.workload.name == workload && $0.kind != .progressed }.map { event in
            "\(event.kind.rawValue) \(event.fromRevision ?? "-")→\(event.toRevision) "
                + "\(Self.tag(event.fromImages))→\(Self.tag(event.toImages))"
        }
    }

    /// The tag of the application image (the proxy's is the same in every revision).
    static func tag(_ images: [String]) -> String {
        images.first { !$0.contains("linkerd") }.flatMap { $0.split(separator: ":").last.map(String.init) } ?? "-"
    }

    static func summary(_ replay: Replay, _ kind: String, _ name: String) throws -> WorkloadSummary {
        try #require(replay.inventory.workloads().first { $0.workload.kind == kind && $0.workload.name == name })
    }

    /// Progress between a start and its end: the updated count never goes back, and reaches
    /// `updated` at the end.
    static func checkProgress(_ replay: Replay, _ workload: String, endsWith updated: Int) {
        var last = -1
        var segment: [RolloutEvent] = []
        for event in replay.events where event.workload.name == workload {
            if event.kind == .started || event.kind == .rolledBack {
                last = -1
                segment = []
            }
            segment.append(event)
            #expect(event.updatedReplicas >= last || event.kind == .started || event.kind == .rolledBack, "\(event)")
            last = max(last, event.updatedReplicas)
            if event.kind == .completed {
                #expect(event.updatedReplicas == updated && event.availableReplicas >= updated, "\(event)")
            }
        }
        #expect(!segment.isEmpty)
    }

    @Test func aRollingUpdateStartsProgressesAndCompletesOnce() throws {
        let replay = try Replay.run("deployment-rolling-update")
        #expect(Self.moves(replay, "web") == ["started 1→2 1.0→2.0", "completed 1→2 1.0→2.0"])
        Self.checkProgress(replay, "web", endsWith: 3)
        // Each replica updated is reported: 1, 2 and 3 of 3.
        let updates = Set(replay.events.filter { $0.kind == .progressed }.map(\.updatedReplicas))
        #expect(updates.isSuperset(of: [1, 2, 3]))
        let web = try Self.summary(replay, "Deployment", "web")
        #expect(web.rolloutState?.phase == .complete && web.rolloutState?.active == false)
        #expect(web.rolloutState?.revision == "2" && web.rolloutState?.fromRevision == "1")
        #expect(web.meshedPods == 3 && web.podPhases == ["Running": 3])
    }

    @Test func aRolloutPastItsDeadlineFails() throws {
        let replay = try Replay.run("deployment-failed-deadline")
        #expect(Self.moves(replay, "billing") == ["started 1→2 1.0→2.0-never-ready", "failed 1→2 1.0→2.0-never-ready"])
        let failed = try #require(replay.events.last)
        #expect(failed.message?.contains("has timed out progressing") == true, "\(failed.message ?? "no message")")
        let billing = try Self.summary(replay, "Deployment", "billing")
        #expect(billing.rolloutState?.phase == .failed)
        #expect(billing.rolloutState?.message?.contains("timed out") == true)
    }

    /// The controller's first statuses after the undo still carry the old condition
    /// (`ProgressDeadlineExceeded`, observedGeneration behind): no failure may come of them.
    @Test func anUndoAfterAFailureRollsBackAndCompletesWithoutAFailure() throws {
        let replay = try Replay.run("deployment-undo-after-failure")
        #expect(
            Self.moves(replay, "billing") == [
                "rolled_back 2→3 2.0-never-ready→1.0", "completed 2→3 2.0-never-ready→1.0",
            ])
        Self.checkProgress(replay, "billing", endsWith: 3)
    }

    @Test func scalingAndPausingAreNoRolloutAndResumingStartsOne() throws {
        let replay = try Replay.run("deployment-scale-and-pause")
        // Scaled 3 → 5 → 2, paused, the image set while paused: nothing rolls out until the resume.
        let resume = 14.9
        let early = try Replay.run("deployment-scale-and-pause", through: resume)
        #expect(early.events.isEmpty, "\(early.timeline)")
        #expect(try Self.summary(early, "Deployment", "worker").rolloutState?.phase == .paused)
        #expect(Self.moves(replay, "worker") == ["started 1→2 1.0→2.0", "completed 1→2 1.0→2.0"])
        Self.checkProgress(replay, "worker", endsWith: 2)
        // The proxy is a native sidecar here: still meshed.
        #expect(try Self.summary(replay, "Deployment", "worker").meshedPods == 2)
    }

    @Test func editsThatLeaveThePodTemplateAloneAreNoRollout() throws {
        #expect(try Replay.run("deployment-non-template-edit").events.isEmpty)
    }

    @Test func aStatefulSetUpdateAndItsUndo() throws {
        let replay = try Replay.run("statefulset-rolling-update")
        // Revisions as `kubectl rollout history` numbers them; the undo renumbers revision 1 as 3.
        #expect(
            Self.moves(replay, "db") == [
                "started 1→2 15.0→16.0", "completed 1→2 15.0→16.0", "rolled_back 2→3 16.0→15.0",
                "completed 2→3 16.0→15.0",
            ])
        Self.checkProgress(replay, "db", endsWith: 3)
    }

    @Test func aPartitionedStatefulSetUpdateCompletesAtItsPartition() throws {
        let replay = try Replay.run("statefulset-partitioned-update")
        #expect(Self.moves(replay, "db") == ["started 3→4 15.0→17.0", "completed 3→4 15.0→17.0"])
        let completed = try #require(replay.events.last)
        #expect(completed.updatedReplicas == 1 && completed.desiredReplicas == 3)
        #expect(completed.message == "partitioned roll out complete: 1 of 3 pods updated")
    }

    @Test func aDaemonSetUpdateItsUndoAndANonTemplateEdit() throws {
        let replay = try Replay.run("daemonset-rolling-update")
        // The `minReadySeconds` edit at 14.1 s bumps the generation, not the revision: nothing.
        #expect(
            Self.moves(replay, "node-agent") == [
                "started 1→2 3.1→3.2", "completed 1→2 3.1→3.2", "rolled_back 2→3 3.2→3.1", "completed 2→3 3.2→3.1",
            ])
        Self.checkProgress(replay, "node-agent", endsWith: 2)
        let agent = try Self.summary(replay, "DaemonSet", "node-agent")
        #expect(agent.rolloutState?.revision == "3" && agent.rolloutState?.phase == .complete)
    }

    /// Evicted pods stay, Failed: they count by phase and reason, never as meshed or behind the
    /// control plane's proxy version (restarting cannot update them).
    @Test func evictedPodsCountByPhaseNotAsMeshed() throws {
        var replay = try Replay.run("evictions")
        #expect(replay.events.isEmpty)
        // The control plane runs a newer proxy than these pods.
        replay.inventory.settings.controlPlaneVersion = "edge-99.1.1"
        let batch = try Self.summary(replay, "Deployment", "batch")
        #expect(batch.podPhases == ["Running": 3, "Failed": 3])
        #expect(batch.failedPodReasons == ["Evicted": 3])
        #expect(batch.meshedPods == 3)
        #expect(batch.outdatedProxyPods.count == 3)
        let running = Set(replay.inventory.pods.values.filter(\.running).map(\.key.name))
        #expect(Set(batch.outdatedProxyPods) == running)
        #expect(replay.inventory.scrapeCandidates().count == 3)
    }

    /// An agent started part-way through a rollout (the recording replayed to its middle, then
    /// listed afresh) takes it up: its progress and end are reported, its start is not invented.
    @Test func anAgentStartedMidRolloutResumesIt() throws {
        let full = try Replay.run("deployment-rolling-update")
        let midway = try Replay.resumed("deployment-rolling-update", restartAt: 4.0)
        let before = full.events.filter { $0.at <= 4.0 }
        #expect(before.contains { $0.kind == .started })
        #expect(!midway.events.contains { $0.kind == .started }, "\(midway.timeline)")
        #expect(midway.events.filter { $0.kind == .completed }.count == 1)
        #expect(midway.events.last?.kind == .completed)
    }
}
