import FathomModel

/// A Kubernetes Service as a route parent or backend: `Service/namespace/name:port` on pages.
public struct ServiceRef: Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var port: Int

    public init(namespace: String, name: String, port: Int) {
        self.namespace = namespace
        self.name = name
        self.port = port
    }

    /// The cluster-local authority clients use, `name.namespace.svc.cluster.local:port`.
    public var authority: String { "\(name).\(namespace).svc.cluster.local:\(port)" }
}

/// Which metric families a stream of simulated requests shows up in.
public enum TrafficShape: Sendable {
    /// Legacy endpoint families (`response_total`, `response_latency_ms`) towards `service`, whose
    /// pods belong to `destination`, plus ServiceProfile route families when `serviceProfileRoutes`
    /// is not empty (each request then matches one of them).
    case legacyOutbound(
        service: ServiceRef, destination: WorkloadRef, destinationPods: [String], serviceProfileRoutes: [String])
    /// Legacy inbound endpoint families on a server's port and policy route, from one client identity.
    case legacyInbound(serverName: String, port: Int, routeName: String, clientIdentity: String)
    /// Modern outbound route and backend families (Linkerd 2.16+), for an HTTPRoute or GRPCRoute.
    /// An HTTPRoute retries (2.17+): once each failed request, which fails again, and every tenth
    /// successful one, whose retry succeeds.
    case modernRoute(grpc: Bool, parent: ServiceRef, routeName: String?, routeNamespace: String, backend: ServiceRef)
    /// TCP connections accepted by a server on `port` (a database, an opaque port): the transport
    /// families on both legs (the client's, and the proxy's loopback leg to its application) and
    /// the server's TCP authorization. Each "request" is one connection; a failed one is denied
    /// by policy. `bytesPerConnection` is the mean the client sends; the server answers twice that.
    case tcpInbound(serverName: String, port: Int, clientIdentity: String, bytesPerConnection: Double)
    /// TCP connections opened to `service`, whose pods belong to `destination`, over mTLS: the
    /// transport families on both legs (the application's loopback leg, and the destination's).
    /// A failed connection is reset by the peer.
    case tcpOutbound(
        service: ServiceRef, destination: WorkloadRef, destinationPods: [String], bytesPerConnection: Double)
}

/// How long simulated requests take.
public enum LatencyModel: Sendable, Equatable {
    /// Log-normal around a median: the realistic spread (the demo's traffic).
    case logNormal(medianMilliseconds: Double)
    /// Uniform between two bounds, rounded to whole milliseconds: a narrow band, or every request
    /// in one bucket (the lowest, or above the last finite bound).
    case uniform(lowMilliseconds: Double, highMilliseconds: Double)
}

/// One stream of simulated requests through a proxy.
public struct TrafficSpec: Sendable {
    public var shape: TrafficShape
    public var requestsPerSecond: Double
    /// Fraction of requests that fail (5xx, a gRPC error, or a proxy error such as FAIL_FAST).
    public var failureRate: Double
    public var latency: LatencyModel

    public init(shape: TrafficShape, requestsPerSecond: Double, failureRate: Double, latency: LatencyModel) {
        self.shape = shape
        self.requestsPerSecond = requestsPerSecond
        self.failureRate = failureRate
        self.latency = latency
    }

    /// Latencies log-normal around `medianLatencyMilliseconds`.
    public init(shape: TrafficShape, requestsPerSecond: Double, failureRate: Double, medianLatencyMilliseconds: Double)
    {
        self.init(
            shape: shape, requestsPerSecond: requestsPerSecond, failureRate: failureRate,
            latency: .logNormal(medianMilliseconds: medianLatencyMilliseconds))
    }
}

/// What really happened on one route, as the agent should name it: the reference a test
/// compares the agent's windows against.
public struct RouteTruth: Sendable, Equatable {
    public var success = 0.0
    public var failure = 0.0
    /// Observations at or below each bound (seconds), like cumulative buckets.
    public var cumulativeBuckets: [Double: Double] = [:]
    public var latencySumSeconds = 0.0
    /// A TCP route's connections and bytes.
    public var tcp: [TCPCounter: Double] = [:]
    /// An authorization route's decisions.
    public var authorization: [AuthorizationDecision: Double] = [:]
    /// An HTTPRoute's retries.
    public var retries: [RetryCounter: Double] = [:]

    public init() {}

    mutating func record(success: Bool, latencySeconds: Double, bounds: [Double]) {
        if success { self.success += 1 } else { failure += 1 }
        for bound in bounds where latencySeconds <= bound { cumulativeBuckets[bound, default: 0] += 1 }
        cumulativeBuckets[.infinity, default: 0] += 1
        latencySumSeconds += latencySeconds
    }

    public mutating func add(_ other: RouteTruth) {
        success += other.success
        failure += other.failure
        for (bound, count) in other.cumulativeBuckets { cumulativeBuckets[bound, default: 0] += count }
        latencySumSeconds += other.latencySumSeconds
        tcp.merge(other.tcp, uniquingKeysWith: +)
        authorization.merge(other.authorization, uniquingKeysWith: +)
        retries.merge(other.retries, uniquingKeysWith: +)
    }
}
