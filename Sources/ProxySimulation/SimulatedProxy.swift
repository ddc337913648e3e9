import FathomModel

/// A linkerd-proxy that serves realistic, changing `/metrics` pages: the legacy text block, then
/// (for modern proxies) the prometheus-client block ending in `# EOF`, with Linkerd's label order,
/// bucket layouts and success rules. It also keeps the ground truth of every request it made up,
/// named the way the agent should name it, so tests can check the agent's numbers exactly.
public struct SimulatedProxy: Sendable {
    public let podName: String
    public let podIP: String
    public let workload: WorkloadRef
    public let proxyVersion: String
    /// This proxy's legacy latency bounds in milliseconds (another proxy version may have others).
    public let legacyBounds: [Double]
    public private(set) var traffic: [TrafficSpec]
    public private(set) var processStartTime: Double
    private var lastAdvance: Double
    var store = SeriesStore()
    private var pendingTruth: [RouteIdentity: RouteTruth] = [:]
    /// Connections open now per TCP route, as `tcp_open_connections` says: of the connections
    /// not refused or reset, the first and every tenth after it is a pooled one, kept open; a
    /// restart closes them all.
    public private(set) var openConnections: [RouteIdentity: Double] = [:]
    private var cleanConnections = 0
    /// The proxy's identity certificate as its page shows it (`control_identity_cert_*`): a 24 h
    /// leaf issued as the process started; `failCertificateRefresh()` counts a failed renewal.
    public private(set) var certificate: ProxyCertificate
    private var random: SeededRandom
    private var requestCounter = 0

    /// Linkerd's legacy latency buckets in milliseconds (linkerd2-proxy metrics/latency.rs).
    public static let legacyBoundsMilliseconds: [Double] = [
        1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 10_000,
        20_000, 30_000, 40_000, 50_000,
    ]
    /// This proxy's legacy bounds in seconds, as the agent reads them (for the ground truth).
    var legacyBoundsSeconds: [Double] { legacyBounds.map { $0 / 1_000 } }
    /// `outbound_*_route_request_duration_seconds` buckets.
    public static let routeBoundsSeconds: [Double] = [0.05, 0.5, 1.0, 10.0]
    /// `outbound_*_route_backend_response_duration_seconds` buckets.
    public static let backendBoundsSeconds: [Double] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0]

    public init(
        podName: String, podIP: String, workload: WorkloadRef, proxyVersion: String = "v2.329.0",
        legacyBounds: [Double] = SimulatedProxy.legacyBoundsMilliseconds, traffic: [TrafficSpec], startedAt: Double,
        seed: UInt64
    ) {
        self.podName = podName
        self.podIP = podIP
        self.workload = workload
        self.proxyVersion = proxyVersion
        self.legacyBounds = legacyBounds
        self.traffic = traffic
        self.processStartTime = startedAt
        self.certificate = Self.leaf(issuedAt: startedAt)
        self.lastAdvance = startedAt
        self.random = SeededRandom(seed: seed)
        declareFamilies()
    }

    /// Generates the requests of the time since the last call.
    public mutating func advance(to now: Double) {
        let elapsed = max(0, now - lastAdvance)
        lastAdvance = now
        for index in traffic.indices {
            let expected = traffic[index].requestsPerSecond * elapsed
            var count = Int(expected)
            if random.unit() < expected - Double(count) { count += 1 }
            for _ in 0..<count { makeRequest(traffic[index]) }
        }
    }

    /// The proxy process restarts: every counter starts again from zero.
    public mutating func restart(at now: Double) {
        advance(to: now)
        store.reset()
        openConnections = [:]
        processStartTime = now
        certificate = Self.leaf(issuedAt: now)
    }

    /// A fresh 24 h leaf, as the identity service issues one to a starting proxy.
    static func leaf(issuedAt time: Double) -> ProxyCertificate {
        ProxyCertificate(expiresAt: time + 86_400, refreshedAt: time, refreshesSucceeded: 1, refreshesFailed: 0)
    }

    /// The identity service refused a renewal: the page counts one more failed refresh.
    public mutating func failCertificateRefresh() {
        certificate.refreshesFailed = (certificate.refreshesFailed ?? 0) + 1
    }

    /// Replaces the traffic: a route starts or stops, or behaves differently.
    public mutating func setTraffic(_ traffic: [TrafficSpec]) {
        self.traffic = traffic
    }

    /// Drops the series whose family name and labels match, as Linkerd drops series idle for 10
    /// minutes; if requests come again, they start again from zero.
    public mutating func dropSeries(where matches: (_ family: String, _ labels: String) -> Bool) {
        store.drop(where: matches)
    }

    /// What happened since the last call, per route as the agent names it; then forgets it.
    public mutating func takeTruth() -> [RouteIdentity: RouteTruth] {
        defer { pendingTruth = [:] }
        return pendingTruth
    }

    // MARK: Requests

    private mutating func makeRequest(_ spec: TrafficSpec) {
        requestCounter += 1
        let failed = random.unit() < spec.failureRate
        // Log-normal around the median, at least 1 ms.
        let latencyMilliseconds: Double
        switch spec.latency {
        case .logNormal(let median): latencyMilliseconds = max(1, (median * exp(0.7 * random.gaussian())).rounded())
        case .uniform(let low, let high): latencyMilliseconds = (low + (high - low) * random.unit()).rounded()
        }
        let seconds = latencyMilliseconds / 1_000
        switch spec.shape {
        case .tcpInbound(let server, let port, let client, let bytes):
            acceptConnection(server: server, port: port, client: client, meanBytes: bytes, denied: failed)
        case .tcpOutbound(let service, let destination, let pods, let bytes):
            openConnection(
                service: service, destination: destination, pod: pods[requestCounter % pods.count], meanBytes: bytes,
                reset: failed)
        case .legacyOutbound(let service, let destination, let pods, let routes):
            if failed && requestCounter % 5 == 0 {
                // A fifth of the failures never became a response: the proxy timed them out.
                store.increment("outbound_http_errors_total", "error=\"response timeout\"")
                recordError(
                    RouteIdentity(direction: .outbound, source: .outboundHTTPErrors, target: "", route: "", peer: ""))
                return
            }
            let pod = pods[requestCounter % pods.count]
            let status = failed ? "500" : "200"
            let labels = legacyOutboundLabels(service: service, destination: destination, pod: pod)
            store.increment(
                "response_total",
                labels
                    + ",status_code=\"\(status)\",classification=\"\(failed ? "failure" : "success")\",grpc_status=\"\",error=\"\""
            )
            store.observe("response_latency_ms", labels + ",status_code=\"\(status)\"", latencyMilliseconds)
            let peer = "\(destination.namespace)/\(destination.kind.lowercased())/\(destination.name)"
            let hash = Self.podTemplateHash(of: pod, in: destination)
            record(
                RouteIdentity(
                    direction: .outbound, source: .endpoint, target: service.authority, route: "", peer: peer,
                    security: .mutualTLS, peerIdentity: Self.identity(of: destination),
                    peerReplicaSet: hash.map { "\(destination.name)-\($0)" } ?? ""),
                failed, seconds, legacyBoundsSeconds)
            guard !routes.isEmpty else { return }
            let route = routes[requestCounter % routes.count]
            let routeLabels = "direction=\"outbound\",dst=\"\(service.authority)\",rt_route=\"\(route)\""
            store.increment(
                "route_response_total",
                routeLabels
                    + ",status_code=\"\(status)\",classification=\"\(failed ? "failure" : "success")\",grpc_status=\"\",error=\"\""
            )
            store.observe("route_response_latency_ms", routeLabels + ",status_code=\"\(status)\"", latencyMilliseconds)
            record(
                RouteIdentity(
                    direction: .outbound, source: .serviceProfileRoute, target: service.authority, route: route,
                    peer: ""),
                failed, seconds, legacyBoundsSeconds)
        case .legacyInbound(let server, let port, let routeName, let client):
            if failed && requestCounter % 5 == 0 {
                // A fifth of the failures never became a response: the connection broke.
                store.increment(
                    "inbound_http_errors_total",
                    "error=\"i/o\",target_addr=\"0.0.0.0:\(port)\",target_ip=\"0.0.0.0\",target_port=\"\(port)\",srv_group=\"policy.linkerd.io\",srv_kind=\"server\",srv_name=\"\(server)\",srv_port=\"\(port)\""
                )
                recordError(
                    RouteIdentity(
                        direction: .inbound, source: .inboundHTTPErrors, target: "server/\(server):\(port)", route: "",
                        peer: ""))
                return
            }
            let status = failed ? "503" : "200"
            // An empty client identity is an unmeshed client: plaintext, as the proxy labels it.
            let tls =
                client.isEmpty
                ? "tls=\"no_identity\",no_tls_reason=\"no_tls_from_remote\"" : "tls=\"true\",client_id=\"\(client)\""
            let labels =
                "direction=\"inbound\",target_addr=\"0.0.0.0:\(port)\",target_ip=\"0.0.0.0\",target_port=\"\(port)\",\(tls),srv_group=\"policy.linkerd.io\",srv_kind=\"server\",srv_name=\"\(server)\",srv_port=\"\(port)\",route_group=\"\",route_kind=\"default\",route_name=\"\(routeName)\",authz_group=\"policy.linkerd.io\",authz_kind=\"authorizationpolicy\",authz_name=\"\(server)-authn\""
            store.increment(
                "response_total",
                labels
                    + ",status_code=\"\(status)\",classification=\"\(failed ? "failure" : "success")\",grpc_status=\"\",error=\"\""
            )
            store.observe("response_latency_ms", labels + ",status_code=\"\(status)\"", latencyMilliseconds)
            record(
                RouteIdentity(
                    direction: .inbound, source: .endpoint, target: "server/\(server):\(port)",
                    route: "default/\(routeName)", peer: client,
                    security: client.isEmpty ? .noTLSFromRemote : .mutualTLS),
                failed, seconds, legacyBoundsSeconds)
        case .modernRoute(let grpc, let parent, let routeName, let routeNamespace, let backend):
            let proto = grpc ? "grpc" : "http"
            let routeKind = routeName == nil ? "default" : (grpc ? "GRPCRoute" : "HTTPRoute")
            let name = routeName ?? proto
            let namespace = routeName == nil ? "" : routeNamespace
            let parentLabels =
                "parent_group=\"core\",parent_kind=\"Service\",parent_namespace=\"\(parent.namespace)\",parent_name=\"\(parent.name)\",parent_port=\"\(parent.port)\",parent_section_name=\"\""
            let routeLabels =
                parentLabels
                + ",route_group=\"\(routeName == nil ? "" : "gateway.networking.k8s.io")\",route_kind=\"\(routeKind)\",route_namespace=\"\(namespace)\",route_name=\"\(name)\""
            let backendLabels =
                routeLabels
                + ",backend_group=\"core\",backend_kind=\"Service\",backend_namespace=\"\(backend.namespace)\",backend_name=\"\(backend.name)\",backend_port=\"\(backend.port)\",backend_section_name=\"\""
            let outcome: String
            if grpc {
                outcome = failed ? "grpc_status=\"UNAVAILABLE\",error=\"\"" : "grpc_status=\"OK\",error=\"\""
            } else if failed {
                // Some failures are the proxy's own (no response at all), most are the app's 5xx.
                outcome =
                    requestCounter % 4 == 0 ? "http_status=\"\",error=\"FAIL_FAST\"" : "http_status=\"503\",error=\"\""
            } else {
                outcome = "http_status=\"200\",error=\"\""
            }
            store.increment("outbound_\(proto)_route_request_statuses_total", routeLabels + ",hostname=\"\"," + outcome)
            // An HTTPRoute with a retry policy: a failed request was retried once in vain, and
            // every tenth successful one succeeded on its retry.
            var retries: [RetryCounter: Double] = [:]
            if !grpc && (failed || requestCounter % 10 == 0) {
                store.increment("outbound_http_route_retry_requests_total", routeLabels)
                retries[.requests] = 1
                if !failed {
                    store.increment("outbound_http_route_retry_successes_total", routeLabels)
                    retries[.successes] = 1
                }
            }
            store.observe("outbound_\(proto)_route_request_duration_seconds", routeLabels + ",hostname=\"\"", seconds)
            store.increment("outbound_\(proto)_route_backend_response_statuses_total", backendLabels + "," + outcome)
            store.observe("outbound_\(proto)_route_backend_response_duration_seconds", backendLabels, seconds)
            let target = "Service/\(parent.namespace)/\(parent.name):\(parent.port)"
            let route = routeName == nil ? "default/\(proto)" : "\(routeKind)/\(routeNamespace)/\(name)"
            let routeIdentity = RouteIdentity(
                direction: .outbound, source: grpc ? .grpcRoute : .httpRoute, target: target, route: route, peer: "")
            record(routeIdentity, failed, seconds, Self.routeBoundsSeconds)
            if !retries.isEmpty { pendingTruth[routeIdentity]!.retries.merge(retries, uniquingKeysWith: +) }
            record(
                RouteIdentity(
                    direction: .outbound, source: grpc ? .grpcBackend : .httpBackend, target: target, route: route,
                    peer: "Service/\(backend.namespace)/\(backend.name):\(backend.port)"),
                failed, seconds, Self.backendBoundsSeconds)
        }
    }

    /// The `pod-template-hash` of a Deployment's pod named `<deployment>-<hash>-<suffix>`; nil for
    /// other kinds and names.
    static func podTemplateHash(of pod: String, in destination: WorkloadRef) -> String? {
        guard destination.kind == "Deployment", pod.hasPrefix(destination.name + "-") else { return nil }
        let rest = pod.dropFirst(destination.name.count + 1)
        guard let dash = rest.firstIndex(of: "-") else { return nil }
        return String(rest[..<dash])
    }

    /// A workload's mesh identity, its service account named after it.
    static func identity(of workload: WorkloadRef) -> String {
        "\(workload.name).\(workload.namespace).serviceaccount.identity.linkerd.cluster.local"
    }

    /// One TCP connection accepted by a server: the client's leg, the loopback leg to the
    /// application (the agent must not count it again), and the policy's decision.
    private mutating func acceptConnection(
        server: String, port: Int, client: String, meanBytes: Double, denied: Bool
    ) {
        let clientLeg =
            "direction=\"inbound\",peer=\"src\",target_addr=\"0.0.0.0:\(port)\",target_ip=\"0.0.0.0\",target_port=\"\(port)\",tls=\"true\",client_id=\"\(client)\",srv_group=\"policy.linkerd.io\",srv_kind=\"server\",srv_name=\"\(server)\",srv_port=\"\(port)\""
        let loopbackLeg =
            "direction=\"inbound\",peer=\"dst\",target_addr=\"127.0.0.1:\(port)\",target_ip=\"127.0.0.1\",target_port=\"\(port)\",tls=\"no_identity\",no_tls_reason=\"loopback\""
        let policy =
            "target_addr=\"0.0.0.0:\(port)\",target_ip=\"0.0.0.0\",target_port=\"\(port)\",srv_group=\"policy.linkerd.io\",srv_kind=\"server\",srv_name=\"\(server)\",srv_port=\"\(port)\""
        let read = denied ? 0 : (meanBytes * (0.5 + random.unit())).rounded()
        let written = denied ? 0 : (2 * meanBytes * (0.5 + random.unit())).rounded()
        let keptOpen = !denied && keepsOpen()
        var counts: [TCPCounter: Double] = keptOpen ? [.opened: 1] : [.opened: 1, .closed(errno: 0): 1]
        if read > 0 { counts[.bytesRead] = read }
        if written > 0 { counts[.bytesWritten] = written }
        transfer(clientLeg, counts, errno: "", keptOpen: keptOpen)
        if !denied { transfer(loopbackLeg, counts, errno: "", keptOpen: keptOpen) }
        let decision: AuthorizationDecision = denied ? .tcpDenied : .tcpAllowed
        if denied {
            store.increment(
                "inbound_tcp_authz_deny_total", policy + ",tls=\"true\",client_id=\"\(client)\"")
        } else {
            store.increment(
                "inbound_tcp_authz_allow_total",
                policy
                    + ",authz_group=\"policy.linkerd.io\",authz_kind=\"authorizationpolicy\",authz_name=\"\(server)-clients\",tls=\"true\",client_id=\"\(client)\""
            )
        }
        let target = "server/\(server):\(port)"
        let tcp = RouteIdentity(
            direction: .inbound, source: .tcp, target: target, route: "", peer: client, security: .mutualTLS)
        pendingTruth[tcp, default: RouteTruth()].tcp.merge(counts, uniquingKeysWith: +)
        if keptOpen { openConnections[tcp, default: 0] += 1 }
        let authorization = RouteIdentity(
            direction: .inbound, source: .authorization, target: target, route: "", peer: "", security: .mutualTLS)
        pendingTruth[authorization, default: RouteTruth()].authorization[decision, default: 0] += 1
    }

    /// One TCP connection opened to a destination pod: the application's loopback leg and the
    /// leg to the destination; a failed one is reset by the peer.
    private mutating func openConnection(
        service: ServiceRef, destination: WorkloadRef, pod: String, meanBytes: Double, reset: Bool
    ) {
        // Opaque traffic has no HTTP authority.
        let destinationLeg = legacyOutboundLabels(
            service: service, destination: destination, pod: pod, transportPeer: "dst", authority: false)
        let ip = Self.address(of: pod)
        let loopbackLeg =
            "direction=\"outbound\",peer=\"src\",target_addr=\"\(ip):\(service.port)\",target_ip=\"\(ip)\",target_port=\"\(service.port)\",tls=\"no_identity\",no_tls_reason=\"loopback\""
        let written = (meanBytes * (0.5 + random.unit())).rounded()
        let read = reset ? 0 : (2 * meanBytes * (0.5 + random.unit())).rounded()
        let errno = reset ? "ECONNRESET" : ""
        let keptOpen = !reset && keepsOpen()
        var counts: [TCPCounter: Double] =
            keptOpen ? [.opened: 1] : [.opened: 1, .closed(errno: TCPCounter.errno(errno)): 1]
        if read > 0 { counts[.bytesRead] = read }
        if written > 0 { counts[.bytesWritten] = written }
        transfer(destinationLeg, counts, errno: errno, keptOpen: keptOpen)
        // The loopback leg reads what the application sends and writes what came back.
        var loopback = counts
        loopback[.bytesRead] = counts[.bytesWritten]
        loopback[.bytesWritten] = counts[.bytesRead]
        transfer(loopbackLeg, loopback, errno: errno, keptOpen: keptOpen)
        let hash = Self.podTemplateHash(of: pod, in: destination)
        let identity = RouteIdentity(
            direction: .outbound, source: .tcp, target: "\(service.name).\(service.namespace):\(service.port)",
            route: "", peer: "\(destination.namespace)/\(destination.kind.lowercased())/\(destination.name)",
            security: .mutualTLS, peerIdentity: Self.identity(of: destination),
            peerReplicaSet: hash.map { "\(destination.name)-\($0)" } ?? "")
        pendingTruth[identity, default: RouteTruth()].tcp.merge(counts, uniquingKeysWith: +)
        if keptOpen { openConnections[identity, default: 0] += 1 }
    }

    /// Whether the next connection that is not refused or reset stays open (see `openConnections`).
    private mutating func keepsOpen() -> Bool {
        cleanConnections += 1
        return cleanConnections % 10 == 1
    }

    /// Counts one connection's transport series: closed, or `keptOpen` (then in the gauge, whose
    /// series exists from the leg's first connection on, at 0 while none stays open).
    private mutating func transfer(_ labels: String, _ counts: [TCPCounter: Double], errno: String, keptOpen: Bool) {
        store.increment("tcp_open_total", labels)
        store.increment("tcp_open_connections", labels, by: keptOpen ? 1 : 0)
        if !keptOpen { store.increment("tcp_close_total", labels + ",errno=\"\(errno)\"") }
        if let read = counts[.bytesRead] { store.increment("tcp_read_bytes_total", labels, by: read) }
        if let written = counts[.bytesWritten] { store.increment("tcp_write_bytes_total", labels, by: written) }
    }

    /// A stable address per pod name (String.hashValue is seeded per process).
    static func address(of pod: String) -> String {
        let hash = pod.utf8.reduce(UInt32(7)) { $0 &* 31 &+ UInt32($1) }
        return "10.42.\(hash % 200).\(hash / 200 % 250 + 2)"
    }

    /// The outbound endpoint labels towards a destination pod; with `transportPeer`, the transport
    /// families' (`peer="dst"`), without an authority for opaque traffic.
    private func legacyOutboundLabels(
        service: ServiceRef, destination: WorkloadRef, pod: String, transportPeer: String? = nil, authority: Bool = true
    ) -> String {
        let ip = Self.address(of: pod)
        let peer = transportPeer.map { "peer=\"\($0)\"," } ?? ""
        let authorityLabel = authority ? "authority=\"\(service.authority)\"," : ""
        // Only a Deployment's pods carry a pod-template-hash, so only they have the label.
        let templateHash = Self.podTemplateHash(of: pod, in: destination)
        let hashLabel = templateHash.map { "dst_pod_template_hash=\"\($0)\"," } ?? ""
        return
            "direction=\"outbound\",\(peer)\(authorityLabel)target_addr=\"\(ip):\(service.port)\",target_ip=\"\(ip)\",target_port=\"\(service.port)\",tls=\"true\",server_id=\"\(Self.identity(of: destination))\",dst_control_plane_ns=\"linkerd\",dst_\(destination.kind.lowercased())=\"\(destination.name)\",dst_namespace=\"\(destination.namespace)\",dst_pod=\"\(pod)\",\(hashLabel)dst_service=\"\(service.name)\",dst_serviceaccount=\"\(destination.name)\",dst_zone=\"\",dst_zone_locality=\"unknown\""
    }

    /// A request that failed before any response: a failure without latency.
    private mutating func recordError(_ identity: RouteIdentity) {
        pendingTruth[identity, default: RouteTruth()].failure += 1
    }

    private mutating func record(_ identity: RouteIdentity, _ failed: Bool, _ seconds: Double, _ bounds: [Double]) {
        pendingTruth[identity, default: RouteTruth()].record(success: !failed, latencySeconds: seconds, bounds: bounds)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
