/// A route-level series as one proxy reports it, before it is attributed to a workload.
///
/// Many raw series (one per destination pod, status code or histogram bucket) share one identity;
/// they are summed into it after their deltas are taken.
public struct RouteIdentity: Hashable, Sendable {
    public var direction: TrafficDirection
    public var source: RouteSource
    /// Where the traffic goes: the authority (legacy outbound), `dst` (ServiceProfile), the parent
    /// (`Service/namespace/name:port`) for modern outbound, the server and port for inbound.
    public var target: String
    /// The route name (`rt_route`, `HTTPRoute/namespace/name`, `default/http`), or empty where the
    /// family has no route.
    public var route: String
    /// The other side: the destination workload (legacy outbound), the client identity (inbound),
    /// the backend (modern backend families); empty when unknown.
    public var peer: String
    /// Inbound traffic to the proxy's own admin server (its `linkerd-admin` port): metric scrapes,
    /// the agent's among them, and kubelet probes. Not the application's traffic, so it is kept
    /// apart from the workload's routes and success rate.
    public var toProxyAdmin: Bool

    public init(
        direction: TrafficDirection, source: RouteSource, target: String, route: String, peer: String,
        toProxyAdmin: Bool = false
    ) {
        self.direction = direction
        self.source = source
        self.target = target
        self.route = route
        self.peer = peer
        self.toProxyAdmin = toProxyAdmin
    }
}
