import FathomModel
import PrometheusText

/// How the decoder treats one series, decided the first time the series is seen.
enum SeriesClass: Equatable {
    case ignored
    case processStartTime
    case buildInfo(ProxyBuildInfo)
    case certificate(ProxyCertificate.Field)
    /// `histogram` identifies the raw histogram of a bucket or sum series: its family and labels
    /// but `le` (a hash; two adjacent series with equal hashes are taken for one histogram).
    case route(RouteIdentity, SeriesRole, histogram: Int? = nil)
}

/// Turns one parsed sample of a recognised family into its route identity and role, applying
/// Linkerd's own success rules. Runs once per new series, so it may allocate.
enum SeriesClassifier {
    /// - Parameter adminPort: the proxy's admin port as its pages write it (`4191` unless the pod
    ///   overrides it): inbound series on it are the proxy's own admin traffic.
    static func classify(_ page: PageView, _ sample: Sample, adminPort: String) -> SeriesClass {
        guard let family = LinkerdFamily.recognize(page, sample.name) else { return .ignored }
        let labels = LabelMap(page: page, labels: sample.labels)
        switch family {
        case .processStartTime:
            return .processStartTime
        case .certificate(let field):
            return .certificate(field)
        case .certificateRefreshes:
            switch labels["result"] {
            case "ok": return .certificate(.refreshesSucceeded)
            case "error": return .certificate(.refreshesFailed)
            default: return .ignored
            }
        case .buildInfo:
            return .buildInfo(
                ProxyBuildInfo(
                    version: labels["version"] ?? labels["git_version"] ?? "",
                    gitSHA: labels["git_sha"] ?? "",
                    vendor: labels["vendor"] ?? ""))
        case .responses(let source):
            guard let identity = routeIdentity(source, labels, adminPort: adminPort) else { return .ignored }
            return .route(identity, .responses(success: isSuccess(source, labels), outcome: outcome(source, labels)))
        case .latencyBucket(let source, let unitsPerSecond):
            guard let identity = routeIdentity(source, labels, adminPort: adminPort),
                let bound = labels["le"].flatMap(parseBound)
            else {
                return .ignored
            }
            // Dividing gives the correctly rounded bound (5 ms is exactly the double nearest 0.005).
            return .route(
                identity, .latencyBucket(upperBoundSeconds: bound / unitsPerSecond),
                histogram: histogramKey(source, unitsPerSecond, labels))
        case .authorization(let decision):
            guard let identity = routeIdentity(.authorization, labels, adminPort: adminPort) else { return .ignored }
            return .route(identity, .authorization(decision))
        case .openConnections:
            guard let identity = tcpIdentity(labels, adminPort: adminPort) else { return .ignored }
            return .route(identity, .openConnections)
        case .routeConnections(let source, let counter):
            guard let identity = routeIdentity(source, labels, adminPort: adminPort) else { return .ignored }
            if case .closed = counter {
                // Closed cleanly (`error=""`) or by the proxy's reason.
                return .route(identity, .tcp(.closed(errno: TCPCounter.errno(labels["error"]))))
            }
            return .route(identity, .tcp(counter))
        case .retries(let source, let counter):
            // The route's own identity: its retries are counted in its row.
            guard let identity = routeIdentity(source, labels, adminPort: adminPort) else { return .ignored }
            return .route(identity, .retries(counter))
        case .tcp(let counter):
            guard let identity = tcpIdentity(labels, adminPort: adminPort) else { return .ignored }
            if case .closed = counter {
                return .route(identity, .tcp(.closed(errno: TCPCounter.errno(labels["errno"]))))
            }
            return .route(identity, .tcp(counter))
        case .latencySum(let source, let unitsPerSecond):
            guard let identity = routeIdentity(source, labels, adminPort: adminPort) else { return .ignored }
            return .route(
                identity, .latencySum(unitsPerSecond: unitsPerSecond),
                histogram: histogramKey(source, unitsPerSecond, labels))
        }
    }

    /// The raw histogram a bucket or sum series belongs to: the family and every label but `le`,
    /// combined so that the labels' order does not matter.
    private static func histogramKey(_ source: RouteSource, _ unitsPerSecond: Double, _ labels: LabelMap) -> Int {
        var key = source.hashValue &+ unitsPerSecond.hashValue
        for (name, value) in labels.pairs where name != "le" {
            var hasher = Hasher()
            hasher.combine(name)
            hasher.combine(value)
            key = key &+ hasher.finalize()
        }
        return key
    }

    /// `le` values as Prometheus reads them: `+Inf`, integers or floats such as `1.0`.
    private static func parseBound(_ text: String) -> Double? {
        if text == "+Inf" || text == "Inf" { return .infinity }
        return Double(text)
    }

    // MARK: Success rules (FORMAT.md §5)

    /// Linkerd's classification of a response series.
    ///
    /// - Legacy families carry `classification="success|failure"`; without it (very old proxies),
    ///   a 5xx `status_code` or a non-zero `grpc_status` is a failure.
    /// - Modern HTTP families: a 5xx `http_status` or a non-empty `error` is a failure, as
    ///   `linkerd viz stat-outbound` counts it (so `200` with `error="UNKNOWN"`, the v2.288.0
    ///   regression, is a failure there too).
    /// - Modern gRPC families: `grpc_status` other than `OK`, or a non-empty `error`.
    /// - Modern inbound families: `status` is the HTTP status (5xx fails) or the numeric gRPC code
    ///   (non-zero fails).
    static func isSuccess(_ source: RouteSource, _ labels: LabelMap) -> Bool {
        switch source {
        case .endpoint, .serviceProfileRoute, .serviceProfileRouteActual:
            if let classification = labels["classification"] {
                return classification != "failure"
            }
            if let grpc = labels["grpc_status"], !grpc.isEmpty, grpc != "0" { return false }
            return !(labels["status_code"] ?? "").hasPrefix("5")
        case .httpRoute, .httpBackend:
            if let error = labels["error"], !error.isEmpty { return false }
            return !(labels["http_status"] ?? "").hasPrefix("5")
        case .grpcRoute, .grpcBackend:
            if let error = labels["error"], !error.isEmpty { return false }
            return (labels["grpc_status"] ?? "OK") == "OK"
        case .inboundHTTPRoute:
            return !(labels["status"] ?? "").hasPrefix("5")
        case .inboundGRPCRoute:
            return (labels["status"] ?? "0") == "0"
        case .inboundHTTPErrors, .outboundHTTPErrors:
            return false
        case .tcp, .tcpRoute, .tlsRoute, .authorization:
            return true
        }
    }

    /// Why a response series counted as it did, from the labels its family has (FORMAT.md §2.4,
    /// §3.1): the status, gRPC status and error labels, bounded (`ResponseOutcome`).
    static func outcome(_ source: RouteSource, _ labels: LabelMap) -> ResponseOutcome {
        switch source {
        case .endpoint, .serviceProfileRoute, .serviceProfileRouteActual:
            ResponseOutcome(
                httpStatus: labels["status_code"], grpcStatus: labels["grpc_status"], error: labels["error"])
        case .httpRoute, .httpBackend:
            ResponseOutcome(httpStatus: labels["http_status"], grpcStatus: nil, error: labels["error"])
        case .grpcRoute, .grpcBackend:
            ResponseOutcome(httpStatus: nil, grpcStatus: labels["grpc_status"], error: labels["error"])
        case .inboundHTTPRoute:
            ResponseOutcome(httpStatus: labels["status"], grpcStatus: nil, error: labels["error"])
        case .inboundGRPCRoute:
            ResponseOutcome(httpStatus: nil, grpcStatus: labels["status"], error: labels["error"])
        case .inboundHTTPErrors, .outboundHTTPErrors:
            ResponseOutcome(httpStatus: nil, grpcStatus: nil, error: labels["error"])
        case .tcp, .tcpRoute, .tlsRoute, .authorization:
            ResponseOutcome()
        }
    }

    // MARK: Route identities (FORMAT.md §2, §3)

    static func routeIdentity(_ source: RouteSource, _ labels: LabelMap, adminPort: String) -> RouteIdentity? {
        switch source {
        case .endpoint:
            guard let direction = labels["direction"].flatMap(TrafficDirection.init(rawValue:)) else { return nil }
            switch direction {
            case .outbound:
                let target =
                    labels["authority"] ?? labels["dst_service"].map { service in
                        "\(service).\(labels["dst_namespace"] ?? "")"
                    } ?? labels["target_addr"] ?? ""
                let destination = Destination(labels)
                return RouteIdentity(
                    direction: .outbound, source: source, target: target, route: "", peer: destination.workload,
                    security: destination.security, peerIdentity: destination.identity,
                    peerReplicaSet: destination.replicaSet)
            case .inbound:
                let side = InboundSide(labels, adminPort: adminPort)
                let target = labels["srv_name"] == nil ? labels["authority"] ?? side.server : side.server
                // The admin server records its scrapes and probes as inbound endpoint traffic
                // on its own port (LINKERD-FACTS §2.5); the route families never see them.
                return RouteIdentity(
                    direction: .inbound, source: source, target: target, route: side.policyRoute, peer: side.client,
                    toProxyAdmin: side.toProxyAdmin, security: side.security)
            }
        case .serviceProfileRoute, .serviceProfileRouteActual:
            guard let direction = labels["direction"].flatMap(TrafficDirection.init(rawValue:)) else { return nil }
            // Requests that match no ServiceProfile route carry no rt_route; `linkerd viz routes`
            // shows them as [DEFAULT].
            return RouteIdentity(
                direction: direction, source: source, target: labels["dst"] ?? "",
                route: labels["rt_route"] ?? "[DEFAULT]", peer: "")
        case .httpRoute, .grpcRoute, .httpBackend, .grpcBackend, .tcpRoute, .tlsRoute:
            let parent = reference(
                kind: labels["parent_kind"], namespace: labels["parent_namespace"], name: labels["parent_name"],
                port: labels["parent_port"])
            let route = reference(
                kind: labels["route_kind"], namespace: labels["route_namespace"], name: labels["route_name"], port: nil)
            var peer = ""
            if source == .httpBackend || source == .grpcBackend {
                peer = reference(
                    kind: labels["backend_kind"], namespace: labels["backend_namespace"], name: labels["backend_name"],
                    port: labels["backend_port"])
            }
            return RouteIdentity(direction: .outbound, source: source, target: parent, route: route, peer: peer)
        case .inboundHTTPRoute, .inboundGRPCRoute:
            let server = reference(
                kind: labels["parent_kind"], namespace: nil, name: labels["parent_name"], port: labels["parent_port"])
            let route = reference(kind: labels["route_kind"], namespace: nil, name: labels["route_name"], port: nil)
            return RouteIdentity(direction: .inbound, source: source, target: server, route: route, peer: "")
        case .inboundHTTPErrors:
            // Per server and port, as the endpoint family names them; the admin port's apart.
            let side = InboundSide(labels, adminPort: adminPort)
            return RouteIdentity(
                direction: .inbound, source: source, target: side.port.isEmpty ? "" : side.server, route: "",
                peer: "", toProxyAdmin: side.toProxyAdmin)
        case .outboundHTTPErrors:
            return RouteIdentity(direction: .outbound, source: source, target: "", route: "", peer: "")
        case .tcp:
            return tcpIdentity(labels, adminPort: adminPort)
        case .authorization:
            // Per server, route policy (HTTP only) and whether the client was mTLS, the admin
            // port's apart; not per client, so a flood of denied clients costs nothing.
            let side = InboundSide(labels, adminPort: adminPort)
            return RouteIdentity(
                direction: .inbound, source: .authorization, target: side.server, route: side.policyRoute, peer: "",
                toProxyAdmin: side.toProxyAdmin, security: side.security)
        }
    }

    /// A TCP route: the pod's side of each connection the proxy carries, as its transport key
    /// labels name it (LINKERD-FACTS §2.2). Inbound, the clients' connections to a server
    /// (`peer="src"`), the peer their identity when mTLS; outbound, the connections to a
    /// destination (`peer="dst"`), by its Service and workload. The loopback legs between the
    /// proxy and its application (inbound `dst`, outbound `src`) would count each connection
    /// twice: nil.
    static func tcpIdentity(_ labels: LabelMap, adminPort: String) -> RouteIdentity? {
        guard let direction = labels["direction"].flatMap(TrafficDirection.init(rawValue:)) else { return nil }
        switch (direction, labels["peer"]) {
        case (.inbound, "src"):
            let side = InboundSide(labels, adminPort: adminPort)
            return RouteIdentity(
                direction: .inbound, source: .tcp, target: side.server, route: "", peer: side.client,
                toProxyAdmin: side.toProxyAdmin, security: side.security)
        case (.outbound, "dst"):
            let port = labels["target_port"] ?? ""
            let target =
                labels["authority"] ?? labels["dst_service"].map { "\($0).\(labels["dst_namespace"] ?? ""):\(port)" }
                ?? ":" + port
            let destination = Destination(labels)
            return RouteIdentity(
                direction: .outbound, source: .tcp, target: target, route: "", peer: destination.workload,
                security: destination.security, peerIdentity: destination.identity,
                peerReplicaSet: destination.replicaSet)
        default:
            return nil
        }
    }

    /// What the inbound families' labels say of a request's or connection's server side
    /// (LINKERD-FACTS §2.1, §2.3): the endpoint, TCP, error and authorization families share them.
    struct InboundSide {
        /// `target_port`; empty when the series has none.
        var port: String
        /// The policy server and port, `kind/name:port`; `:port` without a server label.
        var server: String
        /// The policy route, `kind/name`; empty without one.
        var policyRoute: String
        /// The client's identity when the connection was mTLS; empty otherwise.
        var client: String
        /// On the proxy's own admin port: its scrapes and probes, not the application's traffic.
        var toProxyAdmin: Bool
        /// Whether the client connected with mTLS, or why not.
        var security: EdgeSecurity

        init(_ labels: LabelMap, adminPort: String) {
            let port = labels["target_port"] ?? ""
            self.port = port
            server =
                labels["srv_name"].map { SeriesClassifier.joined(labels["srv_kind"], $0) + ":" + port } ?? ":" + port
            policyRoute = labels["route_name"].map { SeriesClassifier.joined(labels["route_kind"], $0) } ?? ""
            client = labels["tls"] == "true" ? labels["client_id"] ?? "" : ""
            toProxyAdmin = port == adminPort
            security = EdgeSecurity(tls: labels["tls"], noTLSReason: labels["no_tls_reason"])
        }
    }

    /// What the outbound endpoint and TCP families' `dst_*` and TLS labels say of the destination
    /// (LINKERD-FACTS §2.1, §6).
    struct Destination {
        /// The owning workload of the destination pod, `namespace/kind/name`; empty when the
        /// destination is not a known workload.
        var workload = ""
        /// The destination pod's ReplicaSet: `<deployment>-<pod_template_hash>`, or `dst_replicaset`
        /// (Argo Rollouts' pods, which Linkerd labels by ReplicaSet); empty otherwise.
        var replicaSet = ""
        /// Whether the connection was mTLS, or why not.
        var security: EdgeSecurity
        /// The destination's identity (`server_id`) when mTLS.
        var identity: String

        private static let ownerKinds: [(label: String, kind: String)] = [
            ("dst_deployment", "deployment"), ("dst_statefulset", "statefulset"), ("dst_daemonset", "daemonset"),
            ("dst_k8s_job", "job"), ("dst_cronjob", "cronjob"), ("dst_replicaset", "replicaset"),
            ("dst_replicationcontroller", "replicationcontroller"),
        ]

        init(_ labels: LabelMap) {
            security = EdgeSecurity(tls: labels["tls"], noTLSReason: labels["no_tls_reason"])
            identity = security.isMutualTLS ? labels["server_id"] ?? "" : ""
            for (label, kind) in Self.ownerKinds {
                guard let name = labels[label], !name.isEmpty else { continue }
                workload = "\(labels["dst_namespace"] ?? "")/\(kind)/\(name)"
                if kind == "replicaset" {
                    replicaSet = name
                } else if kind == "deployment", let hash = labels["dst_pod_template_hash"], !hash.isEmpty {
                    replicaSet = name + "-" + hash
                }
                return
            }
        }
    }

    /// `kind/namespace/name:port`, leaving out empty parts.
    private static func reference(kind: String?, namespace: String?, name: String?, port: String?) -> String {
        var text = ""
        for part in [kind, namespace, name] {
            guard let part, !part.isEmpty else { continue }
            text += text.isEmpty ? part : "/" + part
        }
        if let port, !port.isEmpty { text += ":" + port }
        return text
    }

    private static func joined(_ kind: String?, _ name: String) -> String {
        guard let kind, !kind.isEmpty else { return name }
        return kind + "/" + name
    }
}

/// The labels of one sample as unescaped strings, for classification.
struct LabelMap {
    private var values: [String: String] = [:]

    init(page: PageView, labels: Range<Int>) {
        for label in LabelIterator(page: page, labels: labels) {
            values[page.string(label.name)] = page.labelValue(label)
        }
    }

    subscript(name: String) -> String? { values[name] }

    /// Every label, in no particular order.
    var pairs: [String: String] { values }
}
