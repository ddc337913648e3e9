import FathomModel
import Foundation
import ProxySimulation
import RouteAggregation

/// One route of the oracle's mesh: how the agent names it, and how PromQL selects its series.
struct OracleRoute: Sendable {
    static let quantiles = [0.5, 0.95, 0.99]

    /// The Deployment (and the `workload` label Prometheus gives its pods' series).
    var workload: String
    var identity: RouteIdentity
    var responses: String
    /// Label matchers of the route's series, without the outcome.
    var matchers: String
    /// Extra matchers of its successful responses, as Linkerd classifies them.
    var success: String
    var buckets: String
    /// Units of the histogram per second (1 000 for the legacy `_ms` families).
    var unitsPerSecond: Double
    /// For a route without responses (TCP, authorization): each counter family PromQL sums with
    /// `increase`, its extra matchers, and where the agent reports it. `responses` is then unused.
    var counters: [Counter] = []
    /// For an HTTPRoute (Linkerd 2.17+): its retry families, which PromQL sums with `increase`.
    var retryFamilies: [RetryCounter: String] = [:]

    struct Counter: Sendable {
        var family: String
        var matchers = ""
        var name: String
        var read: @Sendable (RouteWindow) -> Double
        /// The truth's value for a window; nil for a gauge, whose truth is PromQL's instant value.
        var truth: (@Sendable (RouteTruth) -> Double)?
        /// A gauge (`tcp_open_connections`): PromQL sums its value at the window's end, never
        /// its increase.
        var gauge = false
    }

    struct Measured {
        var count: Double
        var success: Double
        var quantiles: [Double]
        /// Responses by why they counted as they did, from PromQL's `sum by` the outcome labels.
        var outcomes: [ResponseOutcome: Double]
        /// The latency histogram's sum, in seconds.
        var latencySum: Double
        /// Retries by counter (`retryFamilies`), where the route has them.
        var retries: [RetryCounter: Double] = [:]
    }

    /// The labels that say why a response counted as it did, and the outcome they name.
    var outcomeLabels: (names: [String], outcome: ([String: String]) -> ResponseOutcome) {
        switch identity.source {
        case .httpRoute, .httpBackend:
            (
                ["http_status", "error"],
                { ResponseOutcome(httpStatus: $0["http_status"], grpcStatus: nil, error: $0["error"]) }
            )
        case .grpcRoute, .grpcBackend:
            (
                ["grpc_status", "error"],
                { ResponseOutcome(httpStatus: nil, grpcStatus: $0["grpc_status"], error: $0["error"]) }
            )
        default:
            (
                ["status_code", "grpc_status", "error"],
                {
                    ResponseOutcome(httpStatus: $0["status_code"], grpcStatus: $0["grpc_status"], error: $0["error"])
                }
            )
        }
    }

    /// What PromQL computes for the route over `[end − range, end]`.
    func measured(_ prometheus: PrometheusServer, at end: Double, rangeMilliseconds range: Int) async throws
        -> Measured
    {
        let selector = "{\(matchers),workload=\"\(workload)\"}"
        let successSelector = "{\(matchers),\(success),workload=\"\(workload)\"}"
        let at = String(format: "%.3f", end)
        func single(_ query: String) async throws -> Double {
            try await prometheus.query(query, at: end).first?.value ?? 0
        }
        let count = try await single("sum(increase(\(responses)\(selector)[\(range)ms] @ \(at)))")
        let success = try await single("sum(increase(\(responses)\(successSelector)[\(range)ms] @ \(at)))")
        var quantiles: [Double] = []
        for q in Self.quantiles {
            let value = try await prometheus.query(
                "histogram_quantile(\(q), sum by (le) (increase(\(buckets)\(selector)[\(range)ms] @ \(at))))", at: end
            ).first?.value
            quantiles.append((value ?? .nan) / unitsPerSecond)
        }
        let (names, outcome) = outcomeLabels
        var outcomes: [ResponseOutcome: Double] = [:]
        for result in try await prometheus.query(
            "sum by (\(names.joined(separator: ","))) (increase(\(responses)\(selector)[\(range)ms] @ \(at)))", at: end)
        where result.value > 0 {
            outcomes[outcome(result.labels), default: 0] += result.value
        }
        let sumFamily = String(buckets.dropLast("_bucket".count)) + "_sum"
        let latencySum = try await single("sum(increase(\(sumFamily)\(selector)[\(range)ms] @ \(at)))") / unitsPerSecond
        var retries: [RetryCounter: Double] = [:]
        for (counter, family) in retryFamilies {
            retries[counter] = try await single(
                "sum(increase(\(family){\(matchers),workload=\"\(workload)\"}[\(range)ms] @ \(at)))")
        }
        return Measured(
            count: count, success: success, quantiles: quantiles, outcomes: outcomes, latencySum: latencySum,
            retries: retries)
    }

    /// What PromQL computes for each of a counter route's families over `[end − range, end]`.
    func measuredCounters(_ prometheus: PrometheusServer, at end: Double, rangeMilliseconds range: Int) async throws
        -> [Double]
    {
        let at = String(format: "%.3f", end)
        var values: [Double] = []
        for counter in counters {
            let extra = counter.matchers.isEmpty ? "" : "," + counter.matchers
            let selector = "{\(matchers)\(extra),workload=\"\(workload)\"}"
            let query =
                counter.gauge
                ? "sum(\(counter.family)\(selector) @ \(at))"
                : "sum(increase(\(counter.family)\(selector)[\(range)ms] @ \(at)))"
            values.append(try await prometheus.query(query, at: end).first?.value ?? 0)
        }
        return values
    }
}

/// The oracle's mesh: one Deployment per case, and what happens to it tick by tick.
enum OracleMesh {
    static let namespace = "oracle"

    static func workload(_ name: String) -> WorkloadRef {
        WorkloadRef(kind: "Deployment", namespace: namespace, name: name)
    }
    static func service(_ name: String, port: Int = 80) -> ServiceRef {
        ServiceRef(namespace: namespace, name: name, port: port)
    }
    static let client = "client.oracle.serviceaccount.identity.linkerd.cluster.local"

    static func legacy(_ name: String, rps: Double, latency: LatencyModel, routes: [String] = []) -> TrafficSpec {
        TrafficSpec(
            shape: .legacyOutbound(
                service: service(name), destination: workload(name),
                destinationPods: ["\(name)-7c9d8b6f5-p1", "\(name)-7c9d8b6f5-p2"],
                serviceProfileRoutes: routes),
            requestsPerSecond: rps, failureRate: 0.05, latency: latency)
    }

    static func modern(_ name: String, grpc: Bool = false, rps: Double, latency: LatencyModel) -> TrafficSpec {
        TrafficSpec(
            shape: .modernRoute(
                grpc: grpc, parent: service(name), routeName: "\(name)-route", routeNamespace: namespace,
                backend: service("\(name)-v2")),
            requestsPerSecond: rps, failureRate: 0.1, latency: latency)
    }

    static func reliable(_ spec: TrafficSpec) -> TrafficSpec {
        var spec = spec
        spec.failureRate = 0
        return spec
    }

    static let inbound = TrafficSpec(
        shape: .legacyInbound(serverName: "legacy-http", port: 8080, routeName: "default", clientIdentity: client),
        requestsPerSecond: 25, failureRate: 0.02, medianLatencyMilliseconds: 8)

    /// Index of each case's proxy in the mesh.
    enum Proxy: Int, CaseIterable {
        case legacyA, legacyB, modernA, modernB, bands, alternate, gappy, duplicate, restartDrop, restartRise, churn,
            tcp, replacedOld, replacedNew, boundary
    }

    /// A route that starts, goes idle, is dropped and comes back. It never fails and takes 20 to
    /// 30 ms, so on its return every series (fewer requests) is below its value before: the
    /// agent, remembering it, sees the reset.
    static func newcomer(rps: Double) -> TrafficSpec {
        reliable(legacy("newcomer", rps: rps, latency: .uniform(lowMilliseconds: 20, highMilliseconds: 30)))
    }

    /// A route first requested between the first page and the second: absent from the page the
    /// agent takes as its baseline, as the proxy makes a series on its first request. Never
    /// failing, so it has no series that appears later (a first failure).
    static let late = reliable(legacy("late", rps: 15, latency: .uniform(lowMilliseconds: 20, highMilliseconds: 30)))

    /// The page that lacks the `edge` route's series: the last of window 4, on its boundary.
    static let boundaryGap = (window: 4, tick: 3)

    static func traffic(_ proxy: Proxy) -> [TrafficSpec] {
        switch proxy {
        case .boundary: [legacy("edge", rps: 30, latency: .logNormal(medianMilliseconds: 25))]
        case .legacyA, .legacyB:
            [
                legacy(
                    "catalog", rps: 40, latency: .logNormal(medianMilliseconds: 20),
                    routes: ["GET /items", "POST /items"]), inbound,
            ]
        case .modernA, .modernB:
            [
                modern("api", rps: 40, latency: .logNormal(medianMilliseconds: 120)),
                modern("rpc", grpc: true, rps: 20, latency: .logNormal(medianMilliseconds: 30)),
            ]
        case .bands:
            [
                legacy("narrow", rps: 20, latency: .uniform(lowMilliseconds: 11, highMilliseconds: 19.5)),
                legacy("slow", rps: 10, latency: .uniform(lowMilliseconds: 60_000, highMilliseconds: 70_000)),
                legacy("fast", rps: 20, latency: .uniform(lowMilliseconds: 0.4, highMilliseconds: 0.9)),
                modern("slow-api", rps: 10, latency: .uniform(lowMilliseconds: 12_000, highMilliseconds: 15_000)),
            ]
        case .alternate:
            [
                legacy("gen-legacy", rps: 30, latency: .logNormal(medianMilliseconds: 10)),
                modern("gen-modern", rps: 30, latency: .logNormal(medianMilliseconds: 60)),
            ]
        case .gappy: [legacy("gappy", rps: 30, latency: .logNormal(medianMilliseconds: 25))]
        case .duplicate: [legacy("dup", rps: 30, latency: .logNormal(medianMilliseconds: 25))]
        case .restartDrop:
            // Never failing, so every series the restart wiped is back before the window's last
            // page: PromQL's ranges then start and end on samples of each series.
            [
                reliable(legacy("r-drop", rps: 40, latency: .logNormal(medianMilliseconds: 25))),
                reliable(modern("r-drop-api", rps: 20, latency: .logNormal(medianMilliseconds: 80))),
            ]
        case .restartRise: [reliable(legacy("r-rise", rps: 1, latency: .logNormal(medianMilliseconds: 25)))]
        case .churn: [legacy("steady", rps: 20, latency: .logNormal(medianMilliseconds: 25))]
        case .replacedOld: replacedTraffic
        case .replacedNew: []  // until its pod is created
        case .tcp:
            [
                TrafficSpec(
                    shape: .tcpInbound(serverName: "db", port: 5432, clientIdentity: client, bytesPerConnection: 900),
                    requestsPerSecond: 12, failureRate: 0.1, latency: .uniform(lowMilliseconds: 1, highMilliseconds: 1)),
                TrafficSpec(
                    shape: .tcpOutbound(
                        service: service("cache", port: 6379), destination: workload("cache"),
                        destinationPods: ["cache-6d5c4b3a2-c1", "cache-6d5c4b3a2-c2"], bytesPerConnection: 300),
                    requestsPerSecond: 20, failureRate: 0.05, latency: .uniform(lowMilliseconds: 1, highMilliseconds: 1)
                ),
            ]
        }
    }

    static let workloads: [Proxy: String] = [
        .legacyA: "legacy", .legacyB: "legacy", .modernA: "modern", .modernB: "modern", .bands: "bands",
        .alternate: "alternate", .gappy: "gappy", .duplicate: "duplicate", .restartDrop: "restart-drop",
        .restartRise: "restart-rise", .churn: "churn", .tcp: "tcp", .replacedOld: "replaced", .replacedNew: "replaced",
        .boundary: "boundary",
    ]

    static func mesh(startedAt: Double) -> SimulatedMesh {
        SimulatedMesh(
            proxies: Proxy.allCases.map { proxy in
                let name = workloads[proxy]!
                // A proxy upgrade that changes the legacy bounds: legacy's second pod has three more.
                let bounds =
                    proxy == .legacyB
                    ? (SimulatedProxy.legacyBoundsMilliseconds + [15, 25, 75]).sorted()
                    : SimulatedProxy.legacyBoundsMilliseconds
                return SimulatedProxy(
                    podName: "\(name)-5d6c7b8a9-\(proxy.rawValue)x\(proxy.rawValue)", podIP: "127.0.0.1",
                    workload: workload(name), legacyBounds: bounds, traffic: traffic(proxy), startedAt: startedAt,
                    seed: UInt64(1_000 + proxy.rawValue))
            })
    }

    /// A pod replaced mid-window, one of the workload's two pods at a time: the new one is created
    /// at `created` (its proxy starting then), the old one deleted at `deleted`. Never failing,
    /// with latencies in one band, so every series of the new pod starts with its first request.
    static let created = (window: 3, tick: 2)
    static let deleted = (window: 5, tick: 2)
    static let replacedTraffic = [
        reliable(legacy("replaced", rps: 20, latency: .uniform(lowMilliseconds: 20, highMilliseconds: 30)))
    ]

    /// Whether `proxy`'s pod exists at window `window`, tick `tick`.
    static func exists(_ proxy: Proxy, window: Int, tick: Int) -> Bool {
        switch proxy {
        case .replacedNew: (window, tick) >= created
        case .replacedOld: (window, tick) < deleted
        default: true
        }
    }

    /// What happens before the requests of window `window`, tick `tick` (1...3) are generated.
    static func change(
        _ mesh: inout SimulatedMesh, window: Int, tick: Int, at time: Double, saved: inout [[TrafficSpec]]
    ) {
        let churn = Proxy.churn.rawValue
        let rise = Proxy.restartRise.rawValue
        let drop = Proxy.restartDrop.rawValue
        switch (window, tick) {
        case (2, 1):
            // A route's first request after the first page.
            mesh.proxies[Proxy.boundary.rawValue].setTraffic(traffic(.boundary) + [late])
        case (3, 2):
            // A new route: its first page counts in full for the agent.
            mesh.proxies[churn].setTraffic(traffic(.churn) + [newcomer(rps: 30)])
            // A restart that lowers every counter: a reset for PromQL and the agent alike. What the
            // proxy counted since its last page is lost to both (and to the truth).
            mesh.proxies[drop].restart(at: time - 0.5)
            _ = mesh.proxies[drop].takeTruth()
            // The replacement pod is created (`created`): its proxy starts now.
            mesh.proxies[Proxy.replacedNew.rawValue].restart(at: time)
            mesh.proxies[Proxy.replacedNew.rawValue].setTraffic(replacedTraffic)
        case (4, 1):
            mesh.proxies[churn].setTraffic(traffic(.churn))  // the newcomer goes idle
        case (4, 2):
            // A restart after which the counters are above those before: PromQL sees no reset.
            mesh.proxies[rise].restart(at: time - 0.5)
            _ = mesh.proxies[rise].takeTruth()
            mesh.proxies[rise].setTraffic([
                reliable(legacy("r-rise", rps: 150, latency: .logNormal(medianMilliseconds: 25)))
            ])
        case (deleted.window, deleted.tick):
            // The old pod is deleted: it serves nothing more.
            mesh.proxies[Proxy.replacedOld.rawValue].setTraffic([])
        case (5, 1):
            // Linkerd drops the idle route's series.
            mesh.proxies[churn].dropSeries { _, labels in labels.contains("newcomer") }
        case (6, 2):
            mesh.proxies[churn].setTraffic(traffic(.churn) + [newcomer(rps: 4)])  // it returns from zero
        case (7, 1):
            // An empty window: no request anywhere.
            saved = mesh.proxies.map(\.traffic)
            for index in mesh.proxies.indices { mesh.proxies[index].setTraffic([]) }
        case (8, 1):
            for index in mesh.proxies.indices { mesh.proxies[index].setTraffic(saved[index]) }
        default:
            break
        }
    }

    /// Page edits: series missing from every other page, a proxy alternating the generations, a
    /// duplicated series.
    static func edit(_ page: String, proxy index: Int, window: Int, tick: Int) -> String {
        // A pod that does not exist serves Prometheus's static target nothing.
        guard exists(Proxy(rawValue: index)!, window: window, tick: tick) else { return "" }
        switch Proxy(rawValue: index)! {
        case .boundary where (window, tick) == boundaryGap:
            return page.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.contains("authority=\"edge.") }.joined(separator: "\n")
        case .gappy where tick == 2:
            return page.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.contains("gappy") }.joined(separator: "\n")
        case .alternate where tick == 1:
            // Only the legacy block; then only the modern one; the window's last page has both.
            return page.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("outbound_") }.joined(separator: "\n")
        case .alternate where tick == 2:
            return page.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !($0.hasPrefix("response_") || $0.hasPrefix("route_response_")) }.joined(separator: "\n")
        case .duplicate:
            // The first success line again at three times its value.
            var lines = page.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if let first = lines.firstIndex(where: {
                $0.hasPrefix("response_total{") && $0.contains("classification=\"success\"")
            }) {
                var parts = lines[first].split(separator: " ").map(String.init)
                if parts.count >= 2, let value = Double(parts[parts.count - 2]) {
                    parts[parts.count - 2] = String(Int(value * 3))
                    lines.insert(parts.joined(separator: " "), at: first + 1)
                }
            }
            return lines.joined(separator: "\n")
        default:
            return page
        }
    }

    /// How each route is checked in `window`.
    static func check(_ route: OracleRoute, window: Int) -> PrometheusOracleTests.Check {
        if route.workload == "churn" && route.identity.target.hasPrefix("newcomer") {
            switch window {
            case 3: return .truth("a new route: increase cannot count its first value")
            case 5: return .truth("dropped by the proxy: no last sample in the range, so PromQL extrapolates")
            case 6: return .truth("back from zero: increase cannot count its first value")
            default: break
            }
        }
        if route.workload == "boundary" && route.identity.target.hasPrefix("late") && window == 2 {
            return .truth("first requested after the first page: increase cannot count its first value")
        }
        if route.workload == "boundary" && route.identity.target.hasPrefix("edge")
            && (window == boundaryGap.window || window == boundaryGap.window + 1)
        {
            return .truth(
                "missing from the window's last page: its last increase moves to the next window, "
                    + "and the two windows together equal PromQL")
        }
        if route.workload == "replaced" && window == created.window {
            return .truth("a pod created mid-window: increase cannot count its series' first values")
        }
        if route.workload == "replaced" && window == deleted.window {
            return .truth("a pod deleted mid-window: its series end before the range, so PromQL extrapolates")
        }
        if route.workload == "restart-rise" && window == 4 {
            return .truth("restarted above its last value: PromQL sees no reset and undercounts")
        }
        return .prometheus
    }

    /// Every route of the mesh, as the agent names it and PromQL selects it.
    static let routes: [OracleRoute] = {
        var routes: [String: OracleRoute] = [:]
        for proxy in Proxy.allCases {
            let name = workloads[proxy]!
            let later = proxy == .churn ? [newcomer(rps: 1)] : proxy == .boundary ? [late] : []
            for spec in traffic(proxy) + later {
                for route in Self.routes(of: spec, workload: name) { routes["\(name) \(route.identity)"] = route }
            }
        }
        return routes.keys.sorted().map { routes[$0]! }
    }()

    static func routes(of spec: TrafficSpec, workload: String) -> [OracleRoute] {
        switch spec.shape {
        case .legacyOutbound(let service, let destination, _, let spRoutes):
            // Every destination pod of the oracle is of one ReplicaSet, reached over mTLS.
            let serverIdentity =
                "\(destination.name).\(destination.namespace).serviceaccount.identity.linkerd.cluster.local"
            let endpoint =
                "direction=\"outbound\",authority=\"\(service.authority)\",tls=\"true\",server_id=\"\(serverIdentity)\",dst_pod_template_hash=\"7c9d8b6f5\""
            var routes = [
                OracleRoute(
                    workload: workload,
                    identity: RouteIdentity(
                        direction: .outbound, source: .endpoint, target: service.authority, route: "",
                        peer: "\(destination.namespace)/\(destination.kind.lowercased())/\(destination.name)",
                        security: .mutualTLS, peerIdentity: serverIdentity,
                        peerReplicaSet: "\(destination.name)-7c9d8b6f5"),
                    responses: "response_total", matchers: endpoint, success: "classification=\"success\"",
                    buckets: "response_latency_ms_bucket", unitsPerSecond: 1_000)
            ]
            for route in spRoutes {
                routes.append(
                    OracleRoute(
                        workload: workload,
                        identity: RouteIdentity(
                            direction: .outbound, source: .serviceProfileRoute, target: service.authority, route: route,
                            peer: ""),
                        responses: "route_response_total",
                        matchers: "direction=\"outbound\",dst=\"\(service.authority)\",rt_route=\"\(route)\"",
                        success: "classification=\"success\"", buckets: "route_response_latency_ms_bucket",
                        unitsPerSecond: 1_000))
            }
            return routes
        case .legacyInbound(let server, let port, let routeName, let client):
            return [
                OracleRoute(
                    workload: workload,
                    identity: RouteIdentity(
                        direction: .inbound, source: .endpoint, target: "server/\(server):\(port)",
                        route: "default/\(routeName)", peer: client, security: .mutualTLS),
                    responses: "response_total",
                    matchers:
                        "direction=\"inbound\",srv_name=\"\(server)\",srv_port=\"\(port)\",route_name=\"\(routeName)\",tls=\"true\",client_id=\"\(client)\"",
                    success: "classification=\"success\"", buckets: "response_latency_ms_bucket", unitsPerSecond: 1_000)
            ]
        case .tcpInbound(let server, let port, let client, _):
            let serverMatchers = "direction=\"inbound\",srv_name=\"\(server)\",target_port=\"\(port)\""
            let target = "server/\(server):\(port)"
            return [
                OracleRoute(
                    workload: workload,
                    identity: RouteIdentity(
                        direction: .inbound, source: .tcp, target: target, route: "", peer: client,
                        security: .mutualTLS),
                    responses: "", matchers: serverMatchers + ",peer=\"src\",tls=\"true\",client_id=\"\(client)\"",
                    success: "", buckets: "", unitsPerSecond: 1, counters: transportCounters),
                OracleRoute(
                    workload: workload,
                    identity: RouteIdentity(
                        direction: .inbound, source: .authorization, target: target, route: "", peer: "",
                        security: .mutualTLS),
                    responses: "", matchers: "srv_name=\"\(server)\",target_port=\"\(port)\",tls=\"true\"",
                    success: "", buckets: "", unitsPerSecond: 1,
                    counters: [
                        decision("inbound_tcp_authz_allow_total", .tcpAllowed),
                        decision("inbound_tcp_authz_deny_total", .tcpDenied),
                    ]),
            ]
        case .tcpOutbound(let service, let destination, _, _):
            return [
                OracleRoute(
                    workload: workload,
                    identity: RouteIdentity(
                        direction: .outbound, source: .tcp,
                        target: "\(service.name).\(service.namespace):\(service.port)",
                        route: "",
                        peer: "\(destination.namespace)/\(destination.kind.lowercased())/\(destination.name)",
                        security: .mutualTLS,
                        peerIdentity:
                            "\(destination.name).\(destination.namespace).serviceaccount.identity.linkerd.cluster.local",
                        peerReplicaSet: "\(destination.name)-6d5c4b3a2"),
                    responses: "",
                    matchers:
                        "direction=\"outbound\",peer=\"dst\",dst_service=\"\(service.name)\",dst_pod_template_hash=\"6d5c4b3a2\",tls=\"true\"",
                    success: "", buckets: "", unitsPerSecond: 1, counters: transportCounters)
            ]
        case .modernRoute(let grpc, let parent, let routeName, let routeNamespace, let backend):
            let proto = grpc ? "grpc" : "http"
            let kind = grpc ? "GRPCRoute" : "HTTPRoute"
            let name = routeName ?? proto
            let target = "Service/\(parent.namespace)/\(parent.name):\(parent.port)"
            let route = "\(kind)/\(routeNamespace)/\(name)"
            let parentMatchers =
                "parent_namespace=\"\(parent.namespace)\",parent_name=\"\(parent.name)\",parent_port=\"\(parent.port)\",route_name=\"\(name)\""
            let success = grpc ? "grpc_status=\"OK\",error=\"\"" : "http_status!~\"5..\",error=\"\""
            return [
                OracleRoute(
                    workload: workload,
                    identity: RouteIdentity(
                        direction: .outbound, source: grpc ? .grpcRoute : .httpRoute, target: target, route: route,
                        peer: ""),
                    responses: "outbound_\(proto)_route_request_statuses_total", matchers: parentMatchers,
                    success: success, buckets: "outbound_\(proto)_route_request_duration_seconds_bucket",
                    unitsPerSecond: 1,
                    retryFamilies: grpc
                        ? [:]
                        : [
                            .requests: "outbound_http_route_retry_requests_total",
                            .successes: "outbound_http_route_retry_successes_total",
                        ]),
                OracleRoute(
                    workload: workload,
                    identity: RouteIdentity(
                        direction: .outbound, source: grpc ? .grpcBackend : .httpBackend, target: target, route: route,
                        peer: "Service/\(backend.namespace)/\(backend.name):\(backend.port)"),
                    responses: "outbound_\(proto)_route_backend_response_statuses_total",
                    matchers: parentMatchers + ",backend_name=\"\(backend.name)\"", success: success,
                    buckets: "outbound_\(proto)_route_backend_response_duration_seconds_bucket", unitsPerSecond: 1),
            ]
        }
    }

    /// A TCP route's counters: connections opened, closed cleanly and reset, bytes each way.
    static var transportCounters: [OracleRoute.Counter] {
        [
            transport("tcp_open_total", "opened", .opened),
            transport("tcp_close_total", "closed cleanly", .closed(errno: 0), matchers: "errno=\"\""),
            transport(
                "tcp_close_total", "reset", .closed(errno: TCPCounter.errno("ECONNRESET")),
                matchers: "errno=\"ECONNRESET\""),
            transport("tcp_read_bytes_total", "bytes read", .bytesRead),
            transport("tcp_write_bytes_total", "bytes written", .bytesWritten),
            OracleRoute.Counter(
                family: "tcp_open_connections", name: "open connections",
                read: { $0.tcp?.openConnections ?? 0 }, truth: nil, gauge: true),
        ]
    }

    static func transport(_ family: String, _ name: String, _ counter: TCPCounter, matchers: String = "")
        -> OracleRoute.Counter
    {
        let read: @Sendable (RouteWindow) -> Double = { route in
            guard let tcp = route.tcp else { return 0 }
            switch counter {
            case .opened: return tcp.opened
            case .closed(let errno): return tcp.closedByErrno[errno] ?? 0
            case .bytesRead: return tcp.bytesRead
            case .bytesWritten: return tcp.bytesWritten
            }
        }
        return OracleRoute.Counter(
            family: family, matchers: matchers, name: name, read: read, truth: { $0.tcp[counter] ?? 0 })
    }

    static func decision(_ family: String, _ decision: AuthorizationDecision) -> OracleRoute.Counter {
        .init(
            family: family, name: "\(decision)", read: { $0.authorization?[decision] ?? 0 },
            truth: { $0.authorization[decision] ?? 0 })
    }
}
