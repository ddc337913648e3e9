/// The Linkerd metric families a route series comes from.
///
/// Sources differ in meaning (per endpoint or per route, effective or actual requests), so series
/// of different sources are never merged.
public enum RouteSource: String, Sendable, Hashable, CaseIterable {
    /// Legacy `response_total` / `response_latency_ms`: per authority outbound, per server and
    /// policy route inbound. Exported by every proxy version.
    case endpoint
    /// Legacy ServiceProfile routes: `route_response_total` / `route_response_latency_ms` (`rt_route`).
    case serviceProfileRoute
    /// Legacy ServiceProfile routes counting every attempt, retries included: `route_actual_response_total`.
    case serviceProfileRouteActual
    /// Modern `outbound_http_route_request_*`: HTTPRoute requests as the application sees them.
    case httpRoute
    /// Modern `outbound_grpc_route_request_*`.
    case grpcRoute
    /// Modern `outbound_http_route_backend_response_*`: each request dispatched to a backend.
    case httpBackend
    /// Modern `outbound_grpc_route_backend_response_*`.
    case grpcBackend
    /// Modern `inbound_http_statuses_total` / `inbound_http_request_duration_seconds` (edge-26.3+).
    case inboundHTTPRoute
    /// Modern `inbound_grpc_*`.
    case inboundGRPCRoute
    /// `inbound_http_errors_total{error}`: requests that failed before any response (`i/o`,
    /// `loadshed`, `failfast`, ...), per server; no route, no latency.
    case inboundHTTPErrors
    /// `outbound_http_errors_total{error}`: the same for the requests a pod sent (`response
    /// timeout`, `failfast`, ...).
    case outboundHTTPErrors
    /// `tcp_open_total`, `tcp_close_total{errno}`, `tcp_read_bytes_total`, `tcp_write_bytes_total`:
    /// connections, meshed TCP and opaque ones included, per server (inbound, the clients' side)
    /// or destination (outbound); no responses, no latency.
    case tcp
    /// `outbound_tcp_route_open_total`, `outbound_tcp_route_close_total{error}` (Linkerd 2.17+):
    /// the connections of a TCPRoute (or an opaque Service's default route) per parent and route.
    case tcpRoute
    /// `outbound_tls_route_*`: the same for a TLSRoute.
    case tlsRoute
    /// `inbound_{http,tcp}_authz_{allow,deny}_total`, `inbound_tcp_authz_terminate_total`,
    /// `inbound_http_route_not_found_total`, `inbound_http_local_ratelimit_total`: the inbound
    /// policy's decisions, per server and route.
    case authorization
}
