import FathomModel

/// One aggregated series: a workload's route, summed over the workload's proxies.
public struct RouteKey: Hashable, Sendable {
    public var workload: WorkloadRef
    public var identity: RouteIdentity
    /// The series that holds every route of the workload past its cardinality cap (for one
    /// direction and source); `identity` then has empty target, route and peer.
    public var isOverflow: Bool

    public init(workload: WorkloadRef, identity: RouteIdentity, isOverflow: Bool = false) {
        self.workload = workload
        self.identity = identity
        self.isOverflow = isOverflow
    }
}
