import FathomModel
import RouteAggregation

/// Formats a window's routes as a fixed-width table, like `linkerd viz routes`: one row per
/// workload route with success rate, request rate and latency quantiles.
public enum RouteTable {
    /// Short names for the metric families a route comes from.
    public static func kind(_ source: RouteSource) -> String {
        switch source {
        case .endpoint: return "endpoint"
        case .serviceProfileRoute: return "sp-route"
        case .serviceProfileRouteActual: return "sp-actual"
        case .httpRoute: return "http-route"
        case .grpcRoute: return "grpc-route"
        case .httpBackend: return "http-backend"
        case .grpcBackend: return "grpc-backend"
        case .inboundHTTPRoute: return "http-inbound"
        case .inboundGRPCRoute: return "grpc-inbound"
        case .inboundHTTPErrors, .outboundHTTPErrors: return "errors"
        case .tcp: return "tcp"
        case .tcpRoute: return "tcp-route"
        case .tlsRoute: return "tls-route"
        case .authorization: return "authz"
        }
    }

    /// The KIND of a route: its family's, or `proxy-admin` for the proxy's own admin traffic.
    public static func kind(_ identity: RouteIdentity) -> String {
        identity.toProxyAdmin ? proxyAdminKind : kind(identity.source)
    }

    /// The KIND of inbound traffic to the proxy's admin port, kept apart from the application's.
    public static let proxyAdminKind = "proxy-admin"

    /// What each KIND counts, and which quantity its latency columns are: the families measure
    /// different things (a route's whole request, each backend's response, an endpoint's
    /// response), and the modern route histogram's four buckets make its quantiles coarse.
    public static func meaning(ofKind kind: String) -> String? {
        switch kind {
        case "endpoint":
            "traffic per endpoint (response_total); latency: response time per request as the proxy saw it, "
                + "from the first byte sent to the end of the response (response_latency_ms, 1 ms … 50 s buckets)"
        case "sp-route":
            "ServiceProfile route (route_response_total); latency: response time of the route's requests "
                + "(route_response_latency_ms, 1 ms … 50 s buckets)"
        case "sp-actual":
            "ServiceProfile route, every attempt with retries (route_actual_response_total); no latency"
        case "http-route", "grpc-route":
            "HTTPRoute or GRPCRoute requests as the client sees them; latency: request duration at the route, "
                + "retries and timeouts included (outbound_*_route_request_duration_seconds, buckets 50 ms, 500 ms, "
                + "1 s, 10 s only: coarse quantiles)"
        case "http-backend", "grpc-backend":
            "each request dispatched to one backend of a route; latency: response time per backend "
                + "(outbound_*_route_backend_response_duration_seconds, 25 ms … 10 s buckets)"
        case "tcp":
            "TCP connections, meshed TCP and opaque ones too (tcp_open_total, tcp_close_total, "
                + "tcp_read_bytes_total, tcp_write_bytes_total): RPS is connections opened per second, SUCCESS the "
                + "closes without an error, TOP FAILURE the commonest errno; no latency; bytes in /debug/routes"
        case "tcp-route", "tls-route":
            "a TCPRoute's or TLSRoute's connections per parent and route (outbound_{tcp,tls}_route_open_total, "
                + "..._close_total, Linkerd 2.17+): RPS is connections opened per second, SUCCESS the closes "
                + "without an error, TOP FAILURE the commonest close error (forbidden, invalid_backend, ...)"
        case "authz":
            "the inbound policy's decisions per server and route (inbound_*_authz_*_total, ...): RPS is "
                + "decisions per second, SUCCESS the allowed ones, TOP FAILURE the commonest refusal (denied, "
                + "terminated, route-not-found, rate-limited); no latency"
        case "errors":
            "requests that failed before any response, by the proxy's reason (i/o, loadshed, failfast, "
                + "response timeout, ...: inbound_http_errors_total, outbound_http_errors_total); all failures, no latency"
        case proxyAdminKind:
            "requests to the proxy's own admin port (metric scrapes, this agent's too, and kubelet probes), "
                + "which the proxy counts as the pod's inbound traffic: not the application's, kept apart "
                + "(response_total on target_port = the admin port)"
        case "http-inbound", "grpc-inbound":
            "requests a pod served, by policy route (inbound_*_statuses_total); latency: the server's "
                + "request duration (inbound_*_request_duration_seconds)"
        default: nil
        }
    }

    /// The legend of the KIND column for the kinds among `rows` (the third cell of each row).
    public static func legend(rows: [[String]]) -> String {
        let column = header.firstIndex(of: "KIND")!
        return legend(kinds: Set(rows.compactMap { $0.count > column ? $0[column] : nil }))
    }

    /// The legend of the KIND column for `kinds`.
    public static func legend(kinds: Set<String>) -> String {
        let lines = kinds.sorted().compactMap { kind in meaning(ofKind: kind).map { "  \(kind): \($0)" } }
        guard !lines.isEmpty else { return "" }
        return "KIND (P50, P95, P99 are latency quantiles, as histogram_quantile computes them):\n"
            + lines.joined(separator: "\n")
    }

    /// `98.25%`, or `-` without responses.
    public static func percent(_ rate: Double?) -> String {
        guard let rate else { return "-" }
        return formatted(rate * 100, decimals: 2) + "%"
    }

    /// Seconds as milliseconds: `4.5ms`, `120ms`, `1.2s`; `-` for NaN.
    public static func latency(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "-" }
        let milliseconds = seconds * 1_000
        if milliseconds >= 1_000 { return formatted(seconds, decimals: 1) + "s" }
        if milliseconds >= 10 { return formatted(milliseconds, decimals: 0) + "ms" }
        return formatted(milliseconds, decimals: 1) + "ms"
    }

    /// A fixed-point decimal without Foundation's formatters.
    public static func formatted(_ value: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value * scale).rounded()
        let whole = Int(scaled / scale)
        guard decimals > 0 else { return String(whole) }
        let fraction = Int(abs(scaled) - abs(Double(whole)) * scale)
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: max(0, decimals - digits.count)) + digits
    }

    public static let header = [
        "WORKLOAD", "REV", "DIR", "KIND", "TARGET", "ROUTE", "PEER", "MTLS", "SUCCESS", "RPS", "P50", "P95", "P99",
        "TOP FAILURE",
    ]

    /// The rows of a window, sorted by workload, direction, kind, target and route.
    public static func rows(_ routes: [RouteWindow]) -> [[String]] {
        rows(routes.map(DebugRoute.init))
    }

    /// The header with every failure reason's column in place of TOP FAILURE.
    public static let headerWithFailures = Array(header.dropLast()) + ["FAILURES"]

    /// The rows of routes read from an agent's `/debug/routes`, sorted the same way; with
    /// `allFailures`, the last cell lists every failure reason (under `headerWithFailures`).
    public static func rows(_ routes: [DebugRoute], allFailures: Bool = false) -> [[String]] {
        func order(_ route: DebugRoute) -> [String] {
            [
                route.namespace, route.workloadKind, route.workload, route.revision ?? "", route.direction,
                route.kind, route.target, route.route,
            ]
        }
        return routes.sorted { order($0).lexicographicallyPrecedes(order($1)) }
            .map { route in
                [
                    "\(route.namespace)/\(route.workload)", (route.revision ?? "").isEmpty ? "-" : route.revision!,
                    route.direction, route.kind,
                    route.overflow
                        ? "(other routes: \(route.foldedRoutes))" : route.target.isEmpty ? "-" : route.target,
                    route.route.isEmpty ? "-" : route.route, peer(route), secured(route.security),
                    percent(route.successRate), formatted(route.rps, decimals: 1), latency(route.p50 ?? .nan),
                    latency(route.p95 ?? .nan), latency(route.p99 ?? .nan),
                    allFailures ? failureList(route) : topFailure(route),
                ]
            }
    }

    /// The peer, with the destination's revision where the proxy names it: `ns/deployment/web rev 3`.
    static func peer(_ route: DebugRoute) -> String {
        guard !route.peer.isEmpty else { return "-" }
        guard let revision = route.peerRevision else { return route.peer }
        return route.peer + " rev " + revision
    }

    /// `yes` for an mTLS edge, `no` for a plaintext one (the reason is in `/debug/routes`), `-`
    /// where the family does not say, as `linkerd viz edges`' SECURED column.
    static func secured(_ security: String?) -> String {
        guard let security else { return "-" }
        // Rows folded by `RouteGrouping` whose edges differ.
        if security == "*" { return "some" }
        return security == EdgeSecurity.mutualTLS.rawValue ? "yes" : "no"
    }

    /// The most common failure reason and its share of the failures: `LOAD_SHED 88%`; `-` without.
    static func topFailure(_ route: DebugRoute) -> String {
        guard let reason = route.topFailure, let count = route.topFailureCount, route.failure > 0 else { return "-" }
        return "\(reason) \(formatted(count / route.failure * 100, decimals: 0))%"
    }

    /// Every failure reason with its share of the failures, commonest first (equal counts by
    /// name): `5xx 60%, i/o 30%, timeout 10%`; `-` without.
    static func failureList(_ route: DebugRoute) -> String {
        guard let reasons = route.failures, route.failure > 0 else { return topFailure(route) }
        return reasons.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            .map { "\($0.key) \(formatted($0.value / route.failure * 100, decimals: 0))%" }
            .joined(separator: ", ")
    }

    /// The whole table as text, columns padded to their widest cell.
    public static func render(_ routes: [RouteWindow]) -> String {
        render(rows: rows(routes))
    }

    /// A table of prepared rows under `header` (the standard one unless given).
    public static func render(rows: [[String]], header: [String] = header) -> String {
        let table = [header] + rows
        var widths = Array(repeating: 0, count: header.count)
        for row in table {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        return table.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }
            .joined(separator: "  ")
        }
        .joined(separator: "\n")
    }
}
