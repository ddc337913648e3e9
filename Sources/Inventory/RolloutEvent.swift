import FathomModel
import KubernetesModels

/// One rollout transition of a workload: which revision and images moved where, and when.
public struct RolloutEvent: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// A new revision began rolling out.
        case started
        /// A previous revision was made current again (`kubectl rollout undo`, an aborted canary).
        case rolledBack = "rolled_back"
        /// More replicas updated or available.
        case progressed
        case completed
        /// The controller gave up (`ProgressDeadlineExceeded`, a degraded Argo Rollout).
        case failed
    }

    public var workload: WorkloadRef
    public var kind: Kind
    public var fromRevision: String?
    public var toRevision: String
    public var fromImages: [String]
    public var toImages: [String]
    public var desiredReplicas: Int
    /// Replicas of the new revision, as the controller counts them (0 until it has observed the
    /// new spec).
    public var updatedReplicas: Int
    public var readyReplicas: Int
    public var availableReplicas: Int
    /// The controller's message for a failure.
    public var message: String?
    /// When the transition was seen (seconds since 1970).
    public var at: Double
    /// When this revision's rollout was seen to start, when known.
    public var startedAt: Double?
    /// The workload object's `resourceVersion` when the transition was seen: the object version
    /// whose status made it.
    public var objectVersion: String?

    /// What makes this transition this one, and the same whichever agent saw it: the workload,
    /// the kind and the revisions (a start or a rollback happens once per pair of revisions),
    /// and for progress, completion and failure the workload object's version whose status made
    /// it (counts repeat within a rollout, and a lowered partition completes a revision twice;
    /// an object version is the cluster's, the same for every agent). Never the agent's clock.
    /// In daemonset mode a new leader so tells the events an earlier leader reported from those
    /// it did not (`RolloutHandover`). Sixteen hex digits of a 64-bit FNV-1a hash: stable across
    /// processes and builds.
    public var identity: String {
        var parts = [
            workload.kind, workload.namespace, workload.name, kind.rawValue, fromRevision ?? "", toRevision,
        ]
        switch kind {
        case .progressed, .completed, .failed:
            if let objectVersion {
                parts.append(objectVersion)
            } else if kind == .progressed {
                parts += ["\(updatedReplicas)", "\(readyReplicas)", "\(availableReplicas)"]
            } else if kind == .failed {
                parts.append(message ?? "")
            }
        case .started, .rolledBack: break
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in parts.joined(separator: "\u{1F}").utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public var description: String {
        let from = fromRevision.map { "rev \($0) \(fromImages.joined(separator: ","))" } ?? "nothing"
        return "\(workload) \(kind.rawValue): \(from) → rev \(toRevision) \(toImages.joined(separator: ",")) "
            + "(\(updatedReplicas) updated, \(readyReplicas) ready, \(availableReplicas) available of \(desiredReplicas))"
    }
}
