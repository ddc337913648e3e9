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
    /// Whether the traffic was mTLS, or why not; `unreported` for families without TLS labels.
    public var security: EdgeSecurity
    /// The peer's mesh identity when mTLS: the destination's `server_id` (outbound); inbound the
    /// client's identity is the peer itself, so this stays empty.
    public var peerIdentity: String
    /// The destination pod's ReplicaSet as the proxy labels it (outbound endpoint and TCP families):
    /// `<dst_deployment>-<dst_pod_template_hash>`, or Linkerd's `dst_replicaset` for Argo Rollouts;
    /// empty where the destination has none. The destination's revision, named by its ReplicaSet
    /// until the inventory turns it into a number.
    public var peerReplicaSet: String

    public init(
        direction: TrafficDirection, source: RouteSource, target: String, route: String, peer: String,
        toProxyAdmin: Bool = false, security: EdgeSecurity = .unreported, peerIdentity: String = "",
        peerReplicaSet: String = ""
    ) {
        self.direction = direction
        self.source = source
        self.target = target
        self.route = route
        self.peer = peer
        self.toProxyAdmin = toProxyAdmin
        self.security = security
        self.peerIdentity = peerIdentity
        self.peerReplicaSet = peerReplicaSet
    }
}
