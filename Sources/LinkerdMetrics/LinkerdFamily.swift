import FathomModel
import PrometheusText

/// A metric family of a linkerd-proxy page that the agent reads, recognised by its sample name.
///
/// Names come from FORMAT.md and LINKERD-FACTS (`../shared/`): the legacy text families every proxy
/// exports and the modern prometheus-client families of 2.13+ proxies. Everything else on a page
/// (`control_*`, `process_*` but the start time, `request_total`, ...) is
/// not recognised and costs the decoder one hash lookup per line.
enum LinkerdFamily: Equatable {
    /// A counter of completed responses of `source`.
    case responses(RouteSource)
    /// A latency histogram bucket of `source`; `unitsPerSecond` units make a second.
    case latencyBucket(RouteSource, unitsPerSecond: Double)
    /// A latency histogram sum of `source`.
    case latencySum(RouteSource, unitsPerSecond: Double)
    /// A counter of the TCP transport families.
    case tcp(TCPCounter)
    /// A counter of the inbound policy's decisions.
    case authorization(AuthorizationDecision)
    /// A counter of the retries of `source`'s routes (`.httpRoute` or `.grpcRoute`).
    case retries(RouteSource, RetryCounter)
    /// The gauge of the TCP transport's open connections.
    case openConnections
    /// A counter of a TCPRoute's or TLSRoute's connections (`source` `.tcpRoute` or `.tlsRoute`).
    case routeConnections(RouteSource, TCPCounter)
    case buildInfo
    case processStartTime
    /// A series of the proxy's identity certificate; refresh counters say their result in the
    /// `result` label, except `identity_cert_refresh_count`, which counts successes only.
    case certificate(ProxyCertificate.Field)
    /// `..._cert_refreshes_total{result}` (2.15+): successes or failures by the label.
    case certificateRefreshes

    /// The family of the sample named by `name`, or nil for a family the agent does not read.
    static func recognize(_ page: PageView, _ name: Range<Int>) -> LinkerdFamily? {
        for (literal, family) in table where page.equals(name, literal) {
            return family
        }
        return nil
    }

    // A list rather than a dictionary: recognition runs only the first time a series is seen.
    private static let table: [(StaticString, LinkerdFamily)] = [
        // Legacy endpoint families (linkerd2-proxy http/metrics requests/report.rs).
        ("response_total", .responses(.endpoint)),
        ("response_latency_ms_bucket", .latencyBucket(.endpoint, unitsPerSecond: 1_000)),
        ("response_latency_ms_sum", .latencySum(.endpoint, unitsPerSecond: 1_000)),
        // Legacy ServiceProfile route families.
        ("route_response_total", .responses(.serviceProfileRoute)),
        ("route_response_latency_ms_bucket", .latencyBucket(.serviceProfileRoute, unitsPerSecond: 1_000)),
        ("route_response_latency_ms_sum", .latencySum(.serviceProfileRoute, unitsPerSecond: 1_000)),
        ("route_actual_response_total", .responses(.serviceProfileRouteActual)),
        // Exported with latencies only before proxy #467/#468 (2020).
        (
            "route_actual_response_latency_ms_bucket",
            .latencyBucket(.serviceProfileRouteActual, unitsPerSecond: 1_000)
        ),
        ("route_actual_response_latency_ms_sum", .latencySum(.serviceProfileRouteActual, unitsPerSecond: 1_000)),
        // Modern outbound route and backend families (prometheus-client block).
        ("outbound_http_route_request_statuses_total", .responses(.httpRoute)),
        ("outbound_http_route_request_duration_seconds_bucket", .latencyBucket(.httpRoute, unitsPerSecond: 1)),
        ("outbound_http_route_request_duration_seconds_sum", .latencySum(.httpRoute, unitsPerSecond: 1)),
        ("outbound_grpc_route_request_statuses_total", .responses(.grpcRoute)),
        ("outbound_grpc_route_request_duration_seconds_bucket", .latencyBucket(.grpcRoute, unitsPerSecond: 1)),
        ("outbound_grpc_route_request_duration_seconds_sum", .latencySum(.grpcRoute, unitsPerSecond: 1)),
        ("outbound_http_route_backend_response_statuses_total", .responses(.httpBackend)),
        (
            "outbound_http_route_backend_response_duration_seconds_bucket",
            .latencyBucket(.httpBackend, unitsPerSecond: 1)
        ),
        ("outbound_http_route_backend_response_duration_seconds_sum", .latencySum(.httpBackend, unitsPerSecond: 1)),
        ("outbound_grpc_route_backend_response_statuses_total", .responses(.grpcBackend)),
        (
            "outbound_grpc_route_backend_response_duration_seconds_bucket",
            .latencyBucket(.grpcBackend, unitsPerSecond: 1)
        ),
        ("outbound_grpc_route_backend_response_duration_seconds_sum", .latencySum(.grpcBackend, unitsPerSecond: 1)),
        // Their retries (Linkerd 2.17+, linkerd2-proxy#3334), kept with the route's own row.
        ("outbound_http_route_retry_requests_total", .retries(.httpRoute, .requests)),
        ("outbound_http_route_retry_successes_total", .retries(.httpRoute, .successes)),
        ("outbound_http_route_retry_limit_exceeded_total", .retries(.httpRoute, .limitExceeded)),
        ("outbound_http_route_retry_overflow_total", .retries(.httpRoute, .overflow)),
        ("outbound_grpc_route_retry_requests_total", .retries(.grpcRoute, .requests)),
        ("outbound_grpc_route_retry_successes_total", .retries(.grpcRoute, .successes)),
        ("outbound_grpc_route_retry_limit_exceeded_total", .retries(.grpcRoute, .limitExceeded)),
        ("outbound_grpc_route_retry_overflow_total", .retries(.grpcRoute, .overflow)),
        // Modern inbound route families (edge-26.1+ statuses, edge-26.3+ durations).
        ("inbound_http_statuses_total", .responses(.inboundHTTPRoute)),
        ("inbound_http_request_duration_seconds_bucket", .latencyBucket(.inboundHTTPRoute, unitsPerSecond: 1)),
        ("inbound_http_request_duration_seconds_sum", .latencySum(.inboundHTTPRoute, unitsPerSecond: 1)),
        ("inbound_grpc_statuses_total", .responses(.inboundGRPCRoute)),
        ("inbound_grpc_request_duration_seconds_bucket", .latencyBucket(.inboundGRPCRoute, unitsPerSecond: 1)),
        ("inbound_grpc_request_duration_seconds_sum", .latencySum(.inboundGRPCRoute, unitsPerSecond: 1)),
        // Requests that failed before any response (legacy block, every version).
        ("inbound_http_errors_total", .responses(.inboundHTTPErrors)),
        ("outbound_http_errors_total", .responses(.outboundHTTPErrors)),
        // Transport: every connection, meshed TCP and opaque included (legacy block).
        ("tcp_open_total", .tcp(.opened)),
        ("tcp_close_total", .tcp(.closed(errno: 0))),
        ("tcp_read_bytes_total", .tcp(.bytesRead)),
        ("tcp_write_bytes_total", .tcp(.bytesWritten)),
        ("tcp_open_connections", .openConnections),
        // TCPRoute and TLSRoute connections per parent and route (Linkerd 2.17+, linkerd2-proxy#3355).
        ("outbound_tcp_route_open_total", .routeConnections(.tcpRoute, .opened)),
        ("outbound_tcp_route_close_total", .routeConnections(.tcpRoute, .closed(errno: 0))),
        ("outbound_tls_route_open_total", .routeConnections(.tlsRoute, .opened)),
        ("outbound_tls_route_close_total", .routeConnections(.tlsRoute, .closed(errno: 0))),
        // The inbound policy's decisions (Linkerd 2.11+; route_not_found 2.12+, rate limits 2.17+).
        ("inbound_http_authz_allow_total", .authorization(.httpAllowed)),
        ("inbound_http_authz_deny_total", .authorization(.httpDenied)),
        ("inbound_tcp_authz_allow_total", .authorization(.tcpAllowed)),
        ("inbound_tcp_authz_deny_total", .authorization(.tcpDenied)),
        ("inbound_tcp_authz_terminate_total", .authorization(.tcpTerminated)),
        ("inbound_http_route_not_found_total", .authorization(.routeNotFound)),
        ("inbound_http_local_ratelimit_total", .authorization(.rateLimited)),
        // Proxy identity and restarts.
        ("proxy_build_info", .buildInfo),
        ("process_start_time_seconds", .processStartTime),
        // The proxy's identity certificate: 2.16+ (control_identity_), 2.15, then 2.14 and before
        // (LINKERD-FACTS 1.1 (a)).
        ("control_identity_cert_expiration_timestamp_seconds", .certificate(.expiresAt)),
        ("control_identity_cert_refresh_timestamp_seconds", .certificate(.refreshedAt)),
        ("control_identity_cert_refreshes_total", .certificateRefreshes),
        ("identity_cert_expiration_timestamp_seconds", .certificate(.expiresAt)),
        ("identity_cert_refresh_timestamp_seconds", .certificate(.refreshedAt)),
        ("identity_cert_refreshes_total", .certificateRefreshes),
        ("identity_cert_refresh_count", .certificate(.refreshesSucceeded)),
    ]
}
