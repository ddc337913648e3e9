import FathomModel

/// One aggregated series: a workload's route, summed over the workload's proxies.
public struct RouteKey: Hashable, Sendable {
    public var workload: WorkloadRef
    /// The revision of the workload whose pods served or sent the traffic (`3`); empty for kinds
    /// without revisions. During a rollout the old and the new revision are rows of their own.
    public var revision: String
    public var identity: RouteIdentity
    /// The series that holds every route of the workload past its cardinality cap (for one
    /// direction and source); `identity` then has empty target, route and peer.
    public var isOverflow: Bool

    public init(workload: WorkloadRef, revision: String = "", identity: RouteIdentity, isOverflow: Bool = false) {
        self.workload = workload
        self.revision = revision
        self.identity = identity
        self.isOverflow = isOverflow
    }
}
