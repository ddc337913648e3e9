import FathomModel
import LinkerdMetrics
import Testing

/// The inbound per-route families of edge-26.1+ proxies. No public capture exists yet, so this page
/// follows FORMAT.md §3.3: `RouteLabels` (parent_*, route_*) without namespaces, `status` holding
/// the HTTP status or the numeric gRPC code, request-duration buckets 0.025…10 s.
@Suite struct ModernInboundTests {
    static let page = """
        # HELP inbound_http_statuses Completed responses.
        # TYPE inbound_http_statuses counter
        inbound_http_statuses_total{parent_group="policy.linkerd.io",parent_kind="Server",parent_name="web-http",parent_port="8080",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_name="items",status="200"} 40
        inbound_http_statuses_total{parent_group="policy.linkerd.io",parent_kind="Server",parent_name="web-http",parent_port="8080",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_name="items",status="404"} 3
        inbound_http_statuses_total{parent_group="policy.linkerd.io",parent_kind="Server",parent_name="web-http",parent_port="8080",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_name="items",status="503"} 2
        # HELP inbound_grpc_statuses Completed responses.
        # TYPE inbound_grpc_statuses counter
        inbound_grpc_statuses_total{parent_group="",parent_kind="default",parent_name="all-unauthenticated",parent_port="9090",route_group="",route_kind="default",route_name="default",status="0"} 7
        inbound_grpc_statuses_total{parent_group="",parent_kind="default",parent_name="all-unauthenticated",parent_port="9090",route_group="",route_kind="default",route_name="default",status="14"} 1
        # HELP inbound_http_request_duration_seconds The time between request initialization and response completion.
        # TYPE inbound_http_request_duration_seconds histogram
        # UNIT inbound_http_request_duration_seconds seconds
        inbound_http_request_duration_seconds_sum{parent_group="policy.linkerd.io",parent_kind="Server",parent_name="web-http",parent_port="8080",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_name="items"} 1.25
        inbound_http_request_duration_seconds_count{parent_group="policy.linkerd.io",parent_kind="Server",parent_name="web-http",parent_port="8080",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_name="items"} 45
        inbound_http_request_duration_seconds_bucket{le="0.025",parent_group="policy.linkerd.io",parent_kind="Server",parent_name="web-http",parent_port="8080",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_name="items"} 30
        inbound_http_request_duration_seconds_bucket{le="0.05",parent_group="policy.linkerd.io",parent_kind="Server",parent_name="web-http",parent_port="8080",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_name="items"} 44
        inbound_http_request_duration_seconds_bucket{le="+Inf",parent_group="policy.linkerd.io",parent_kind="Server",parent_name="web-http",parent_port="8080",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_name="items"} 45
        # EOF

        """

    @Test func statusesAndDurations() throws {
        var decoder = ProxyPageDecoder(badLinePolicy: .rejectPage)
        let totals = try decoder.decode(Array(Self.page.utf8)).totals()
        let http = RouteIdentity(
            direction: .inbound, source: .inboundHTTPRoute, target: "Server/web-http:8080", route: "HTTPRoute/items",
            peer: "")
        let grpc = RouteIdentity(
            direction: .inbound, source: .inboundGRPCRoute, target: "default/all-unauthenticated:9090",
            route: "default/default", peer: "")
        // A 404 is a success by Linkerd's rules; only 5xx fail. gRPC code 14 (UNAVAILABLE) fails.
        #expect(
            totals[http]
                == RouteTotals(
                    success: 43, failure: 2, buckets: [0.025: 30, 0.05: 44, .infinity: 45], latencySumSeconds: 1.25))
        #expect(totals[grpc] == RouteTotals(success: 7, failure: 1))
        #expect(totals.count == 2)
    }
}
