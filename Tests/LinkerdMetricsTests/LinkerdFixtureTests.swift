import AgentTestSupport
import FathomModel
import LinkerdMetrics
import Testing

/// The decoder on real pages of both metric generations, with the expected numbers read off the
/// fixture lines by hand.
@Suite struct LinkerdFixtureTests {
    func decode(_ name: String) throws -> ProxySnapshot {
        var decoder = ProxyPageDecoder()
        let snapshot = try decoder.decode(try Fixtures.bytes(name))
        #expect(snapshot.stats.badLines == 0)
        return snapshot
    }

    @Test func modernRouteAndBackendFamilies() throws {
        let totals = try decode("linkerd2-proxy_pr4300_outbound_route_metrics_main_v2.329.txt").totals()
        let route = RouteIdentity(
            direction: .outbound, source: .httpRoute, target: "Service/simple-app/simple-app-v1:80",
            route: "default/http", peer: "")
        let backend = RouteIdentity(
            direction: .outbound, source: .httpBackend, target: "Service/simple-app/simple-app-v1:80",
            route: "default/http", peer: "Service/simple-app/simple-app-v1:80")
        #expect(Set(totals.keys) == [route, backend])
        #expect(totals[route]?.success == 284)
        #expect(totals[route]?.failure == 0)
        #expect(totals[route]?.buckets == [0.05: 284, 0.5: 284, 1: 284, 10: 284, .infinity: 284])
        #expect(totals[route]?.latencySumSeconds == 0.5594713199999999)
        #expect(totals[backend]?.buckets.keys.sorted() == [0.025, 0.05, 0.1, 0.25, 0.5, 1, 10, .infinity])
        #expect(totals[backend]?.success == 284)
    }

    @Test func egressRoutesWithErrorsAndGRPCStatuses() throws {
        let totals = try decode("sma_2-17-features_egress_route_request_statuses.txt").totals()
        func http(_ parent: String, _ route: String) -> RouteIdentity {
            RouteIdentity(direction: .outbound, source: .httpRoute, target: parent, route: route, peer: "")
        }
        func grpc(_ parent: String, _ route: String) -> RouteIdentity {
            RouteIdentity(direction: .outbound, source: .grpcRoute, target: parent, route: route, peer: "")
        }
        // Two hostnames of the fallback route merge.
        #expect(totals[http("default/egress-fallback", "default/egress-fallback")] == RouteTotals(success: 16382))
        // FAIL_FAST and LOAD_SHED with an empty status are failures; a 403 is not.
        #expect(
            totals[http("EgressNetwork/linkerd-egress/all-egress:80", "HTTPRoute/faces/allow-smiley-center")]
                == RouteTotals(success: 416, failure: 32))
        #expect(
            totals[http("EgressNetwork/linkerd-egress/all-egress:80", "default/http-egress-deny")]
                == RouteTotals(success: 22))
        // gRPC: UNKNOWN with an error, and PERMISSION_DENIED, fail.
        #expect(
            totals[grpc("EgressNetwork/linkerd-egress/all-egress:8000", "GRPCRoute/faces/allow-color-center")]
                == RouteTotals(success: 416, failure: 32))
        #expect(
            totals[grpc("EgressNetwork/linkerd-egress/all-egress:8000", "default/grpc-egress-deny")]
                == RouteTotals(failure: 22))
        #expect(totals.count == 7)
    }

    @Test func whyRequestsFailIsKeptBounded() throws {
        let egress = try decode("sma_2-17-features_egress_route_request_statuses.txt").outcomes()
        #expect(
            egress[
                RouteIdentity(
                    direction: .outbound, source: .httpRoute, target: "EgressNetwork/linkerd-egress/all-egress:80",
                    route: "HTTPRoute/faces/allow-smiley-center", peer: "")]
                == ["2xx||": 416, "||FAIL_FAST": 4, "||LOAD_SHED": 28])
        #expect(
            egress[
                RouteIdentity(
                    direction: .outbound, source: .grpcRoute, target: "EgressNetwork/linkerd-egress/all-egress:8000",
                    route: "GRPCRoute/faces/allow-color-center", peer: "")]
                == ["|OK|": 416, "|UNKNOWN|FAIL_FAST": 4, "|UNKNOWN|LOAD_SHED": 28])
        // Legacy endpoint families: the status code's class, the numeric gRPC status.
        let canary = try decode("playground-lab_05_response_total_app_503.txt").outcomes()
        #expect(
            canary.values.flatMap(\.keys).allSatisfy { $0 == "5xx||" },
            "\(canary.values.flatMap(\.keys))")
        // Requests that never became a response: outbound_http_errors_total{error="failfast"}.
        let failFast = try decode("playground-lab_04_failfast_balancer_endpoints.txt")
        let errors = RouteIdentity(direction: .outbound, source: .outboundHTTPErrors, target: "", route: "", peer: "")
        #expect(failFast.totals()[errors] == RouteTotals(failure: 7))
        #expect(failFast.outcomes()[errors] == ["||failfast": 7])
    }

    @Test func tcpConnectionsPerServerAndDestinationWithoutTheLoopbackLegs() throws {
        let totals = try decode("linkerd2_prommatch_sampleMetrics.txt").totals().filter { $0.key.source == .tcp }
        // Outbound to an opaque-ports pod over mTLS, by its workload; the app's loopback leg to
        // its own proxy (peer="src") is not counted again.
        // mTLS, with the destination's identity and ReplicaSet (`dst_pod_template_hash`).
        let opaque = RouteIdentity(
            direction: .outbound, source: .tcp, target: ":8080", route: "",
            peer: "linkerd-opaque-ports-test/deployment/opaque-pod", security: .mutualTLS,
            peerIdentity: "default.linkerd-opaque-ports-test.serviceaccount.identity.linkerd.cluster.local",
            peerReplicaSet: "opaque-pod-dcf789f5d")
        #expect(totals[opaque]?.tcp == [.opened: 1, .bytesRead: 8323, .bytesWritten: 3763])
        // One connection open now, on the destination's leg (the loopback leg's is not counted).
        #expect(totals[opaque]?.openConnections == 1)
        // Inbound: the scrapes' connections to the admin port, kept apart; plaintext, from an
        // unmeshed client (Prometheus).
        let scrapes = RouteIdentity(
            direction: .inbound, source: .tcp, target: "default/all-unauthenticated:4191", route: "", peer: "",
            toProxyAdmin: true, security: .noTLSFromRemote)
        #expect(totals[scrapes]?.tcp == [.opened: 30, .closed(errno: 0): 29, .bytesRead: 3073, .bytesWritten: 63256])
        #expect(totals.count == 2)
        // A close by an error is counted by its errno.
        #expect(TCPCounter.errnoNames[Int(TCPCounter.errno("EPIPE"))] == "EPIPE")
        #expect(TCPCounter.errnoNames[Int(TCPCounter.errno("EWHATEVER"))] == "other")
    }

    @Test func theInboundPolicysDecisionsPerServerAndRoute() throws {
        // A real page: the admin server's policy allowed its 30 scrapes.
        let sample = try decode("linkerd2_prommatch_sampleMetrics.txt").totals()
        let admin = RouteIdentity(
            direction: .inbound, source: .authorization, target: "default/all-unauthenticated:4191", route: "",
            peer: "", toProxyAdmin: true, security: .noTLSFromRemote)
        #expect(sample[admin]?.authorization == [.httpAllowed: 30])
        // Every decision family, with the labels LINKERD-FACTS §2.3 lists.
        let page = """
            inbound_http_authz_allow_total{target_addr="10.0.0.5:8080",target_ip="10.0.0.5",target_port="8080",srv_kind="Server",srv_name="web-http",route_kind="HTTPRoute",route_name="web",authz_kind="AuthorizationPolicy",authz_name="web-clients",tls="true",client_id="vote-bot.emojivoto.serviceaccount.identity.linkerd.cluster.local"} 90
            inbound_http_authz_deny_total{target_addr="10.0.0.5:8080",target_ip="10.0.0.5",target_port="8080",srv_kind="Server",srv_name="web-http",route_kind="HTTPRoute",route_name="web",tls="true",client_id="intruder.default.serviceaccount.identity.linkerd.cluster.local"} 7
            inbound_http_authz_deny_total{target_addr="10.0.0.5:8080",target_ip="10.0.0.5",target_port="8080",srv_kind="Server",srv_name="web-http",route_kind="HTTPRoute",route_name="web",tls="no_identity",no_tls_reason="no_tls_from_remote"} 3
            inbound_http_route_not_found_total{target_addr="10.0.0.5:8080",target_ip="10.0.0.5",target_port="8080",srv_kind="Server",srv_name="web-http",tls="true",client_id="vote-bot.emojivoto.serviceaccount.identity.linkerd.cluster.local"} 2
            inbound_http_local_ratelimit_total{target_addr="10.0.0.5:8080",target_ip="10.0.0.5",target_port="8080",srv_kind="Server",srv_name="web-http",ratelimit_scope="overall",tls="true",client_id="vote-bot.emojivoto.serviceaccount.identity.linkerd.cluster.local"} 4
            inbound_tcp_authz_allow_total{target_addr="10.0.0.5:5432",target_ip="10.0.0.5",target_port="5432",srv_kind="Server",srv_name="db",authz_kind="AuthorizationPolicy",authz_name="db-clients",tls="true",client_id="api.shop.serviceaccount.identity.linkerd.cluster.local"} 12
            inbound_tcp_authz_deny_total{target_addr="10.0.0.5:5432",target_ip="10.0.0.5",target_port="5432",srv_kind="Server",srv_name="db",tls="no_identity",no_tls_reason="no_tls_from_remote"} 5
            inbound_tcp_authz_terminate_total{target_addr="10.0.0.5:5432",target_ip="10.0.0.5",target_port="5432",srv_kind="Server",srv_name="db",tls="true",client_id="api.shop.serviceaccount.identity.linkerd.cluster.local"} 1

            """
        var decoder = ProxyPageDecoder()
        let totals = try decoder.decode(Array(page.utf8)).totals()
        func decisions(_ target: String, _ route: String, _ security: EdgeSecurity = .mutualTLS)
            -> [AuthorizationDecision: Double]?
        {
            totals[
                RouteIdentity(
                    direction: .inbound, source: .authorization, target: target, route: route, peer: "",
                    security: security)]?
                .authorization
        }
        // Per server, route policy and whether the client was meshed, whoever the client was.
        #expect(decisions("Server/web-http:8080", "HTTPRoute/web") == [.httpAllowed: 90, .httpDenied: 7])
        #expect(decisions("Server/web-http:8080", "HTTPRoute/web", .noTLSFromRemote) == [.httpDenied: 3])
        #expect(decisions("Server/web-http:8080", "") == [.routeNotFound: 2, .rateLimited: 4])
        #expect(decisions("Server/db:5432", "") == [.tcpAllowed: 12, .tcpTerminated: 1])
        #expect(decisions("Server/db:5432", "", .noTLSFromRemote) == [.tcpDenied: 5])
        #expect(totals.count == 5)
    }

    @Test func everyEdgeSaysWhetherItWasMutualTLS() throws {
        // A Linkerd 2.3-era page, whose proxies spelled the plaintext reasons differently.
        let old = try decode("datadog_integrations-core_linkerd_v2_linkerd-2.3-era_controller-pod.txt").totals()
        struct Edge: Hashable {
            var direction: TrafficDirection
            var source: RouteSource
            var security: EdgeSecurity
            var peer: String
            var peerIdentity: String
            var peerReplicaSet: String
        }
        let edges = Dictionary(
            old.filter { $0.key.source == .endpoint || $0.key.source == .tcp }.map { identity, totals in
                (
                    Edge(
                        direction: identity.direction, source: identity.source, security: identity.security,
                        peer: identity.peer, peerIdentity: identity.peerIdentity,
                        peerReplicaSet: identity.peerReplicaSet),
                    totals.success + totals.failure + (totals.tcp[.opened] ?? 0)
                )
            }, uniquingKeysWith: +)
        func edge(
            _ direction: TrafficDirection, _ source: RouteSource, _ security: EdgeSecurity, peer: String = "",
            identity: String = "", replicaSet: String = ""
        ) -> Double? {
            edges[
                Edge(
                    direction: direction, source: source, security: security, peer: peer, peerIdentity: identity,
                    peerReplicaSet: replicaSet)]
        }
        let web = "linkerd-web.linkerd.serviceaccount.identity.linkerd.cluster.local"
        let prometheus = "linkerd-prometheus.linkerd.serviceaccount.identity.linkerd.cluster.local"
        #expect(edge(.inbound, .endpoint, .noTLSFromRemote) == 851)
        #expect(edge(.inbound, .endpoint, .mutualTLS, peer: web) != nil)
        #expect(
            edge(
                .outbound, .endpoint, .mutualTLS, peer: "linkerd/deployment/linkerd-prometheus", identity: prometheus,
                replicaSet: "linkerd-prometheus-84df7f64c") != nil)
        #expect(edge(.outbound, .endpoint, .notProvidedByServiceDiscovery) == 6)
        #expect(edge(.inbound, .tcp, .noTLSFromRemote) == 561)
        #expect(edge(.outbound, .tcp, .notProvidedByServiceDiscovery) == 9)
        // The loopback legs are not edges.
        #expect(!edges.keys.contains { $0.security == .loopback })
        // A proxy without identity, 2019.
        let disabled = try decode("linkerd2-proxy_pr187_legacy_tls_disabled_2019.txt").totals()
        #expect(
            !disabled.isEmpty && disabled.keys.filter { $0.source == .endpoint }.allSatisfy { $0.security == .disabled }
        )
        // Families without TLS labels say nothing either way.
        let modern = try decode("linkerd2-proxy_pr3856_request_statuses_proxy-v2.288.0_bug.txt").totals()
        #expect(!modern.isEmpty && modern.keys.allSatisfy { $0.security == .unreported })
        // Every label value maps to a bounded case.
        #expect(EdgeSecurity(tls: "no_identity", noTLSReason: "something new") == .otherPlaintext)
        #expect(EdgeSecurity(tls: "opaque", noTLSReason: nil) == .passthroughTLS)
        #expect(EdgeSecurity(tls: nil, noTLSReason: nil) == .unreported)
    }

    @Test func aRoutesRetriesAreCountedInItsRow() throws {
        // The retry families of Linkerd 2.17+ (LINKERD-FACTS §2.4), with the route's labels.
        let route =
            "parent_group=\"core\",parent_kind=\"Service\",parent_namespace=\"shop\",parent_name=\"cart\",parent_port=\"80\",parent_section_name=\"\",route_group=\"gateway.networking.k8s.io\",route_kind=\"HTTPRoute\",route_namespace=\"shop\",route_name=\"cart-retries\""
        let page = """
            # TYPE outbound_http_route_request_statuses counter
            outbound_http_route_request_statuses_total{\(route),hostname="",http_status="200",error=""} 90
            outbound_http_route_request_statuses_total{\(route),hostname="",http_status="503",error=""} 10
            # TYPE outbound_http_route_retry_requests counter
            outbound_http_route_retry_requests_total{\(route)} 25
            # TYPE outbound_http_route_retry_successes counter
            outbound_http_route_retry_successes_total{\(route)} 15
            # TYPE outbound_http_route_retry_limit_exceeded counter
            outbound_http_route_retry_limit_exceeded_total{\(route)} 4
            # TYPE outbound_http_route_retry_overflow counter
            outbound_http_route_retry_overflow_total{\(route)} 1
            # EOF

            """
        var decoder = ProxyPageDecoder()
        let totals = try decoder.decode(Array(page.utf8)).totals()
        // One row: the route's responses and its retries together.
        #expect(totals.count == 1)
        let row = try #require(totals.first)
        #expect(row.key.source == .httpRoute && row.key.route == "HTTPRoute/shop/cart-retries")
        #expect(row.value.success == 90 && row.value.failure == 10)
        #expect(row.value.retries == [.requests: 25, .successes: 15, .limitExceeded: 4, .overflow: 1])
    }

    @Test func tcpAndTLSRouteConnectionsPerParentAndRoute() throws {
        // The TCPRoute and TLSRoute families of Linkerd 2.17+ (LINKERD-FACTS §2.2), one series per
        // destination address; derived from the proxy's code, not yet seen on a live page.
        func parent(_ kind: String, _ name: String, port: Int) -> String {
            "parent_group=\"core\",parent_kind=\"Service\",parent_namespace=\"shop\",parent_name=\"\(name)\",parent_port=\"\(port)\",parent_section_name=\"\",route_group=\"gateway.networking.k8s.io\",route_kind=\"\(kind)\",route_namespace=\"shop\",route_name=\"\(name)-route\""
        }
        let db = parent("TCPRoute", "db", port: 5432)
        let api = parent("TLSRoute", "api", port: 443)
        let page = """
            # TYPE outbound_tcp_route_open counter
            outbound_tcp_route_open_total{\(db),target_ip="10.0.0.9"} 12
            outbound_tcp_route_open_total{\(db),target_ip="10.0.0.10"} 3
            # TYPE outbound_tcp_route_close counter
            outbound_tcp_route_close_total{\(db),target_ip="10.0.0.9",error=""} 10
            outbound_tcp_route_close_total{\(db),target_ip="10.0.0.9",error="forbidden"} 1
            outbound_tcp_route_close_total{\(db),target_ip="10.0.0.10",error="invalid_backend"} 2
            # TYPE outbound_tls_route_open counter
            outbound_tls_route_open_total{\(api),target_ip="10.0.0.11"} 7
            # TYPE outbound_tls_route_close counter
            outbound_tls_route_close_total{\(api),target_ip="10.0.0.11",error="something new"} 1
            # EOF

            """
        var decoder = ProxyPageDecoder()
        let totals = try decoder.decode(Array(page.utf8)).totals()
        let tcpRoute = RouteIdentity(
            direction: .outbound, source: .tcpRoute, target: "Service/shop/db:5432", route: "TCPRoute/shop/db-route",
            peer: "")
        let tlsRoute = RouteIdentity(
            direction: .outbound, source: .tlsRoute, target: "Service/shop/api:443", route: "TLSRoute/shop/api-route",
            peer: "")
        #expect(
            totals[tcpRoute]?.tcp == [
                .opened: 15, .closed(errno: 0): 10, .closed(errno: TCPCounter.errno("forbidden")): 1,
                .closed(errno: TCPCounter.errno("invalid_backend")): 2,
            ])
        #expect(totals[tlsRoute]?.tcp == [.opened: 7, .closed(errno: TCPCounter.errno("other")): 1])
        #expect(totals.count == 2)
    }

    @Test func outcomesOutsideTheKnownSetsAreOther() {
        let odd = ResponseOutcome(httpStatus: "999", grpcStatus: "42", error: "something new")
        #expect(odd.statusClassName == "" && odd.grpcStatusName == "other" && odd.errorName == "other")
        let h2 = ResponseOutcome(httpStatus: "", grpcStatus: "14", error: "h2(CANCEL)")
        #expect(h2.grpcStatusName == "UNAVAILABLE" && h2.errorName == "h2(CANCEL)")
        // Written by name into a batch, each outcome reads back as itself.
        for outcome in [odd, h2, ResponseOutcome(httpStatus: "503", grpcStatus: nil, error: "FAIL_FAST")] {
            let named = ResponseOutcome(
                statusClassName: outcome.statusClassName, grpcStatus: outcome.grpcStatusName, error: outcome.errorName)
            #expect(named == outcome)
        }
    }

    @Test func errorLabelMakesA2xxFail() throws {
        let totals = try decode("linkerd2-proxy_pr3856_request_statuses_proxy-v2.288.0_bug.txt").totals()
        let route = RouteIdentity(
            direction: .outbound, source: .httpRoute, target: "Service/booksapp/authors:7001", route: "default/http",
            peer: "")
        #expect(totals == [route: RouteTotals(success: 5, failure: 15)])
    }

    @Test func legacyEndpointFamiliesWithCurrentLabels() throws {
        let totals = try decode("playground-lab_05_response_total_app_503.txt").totals()
        // A Flagger canary: one authority, two destination deployments.
        // Each secured by mTLS with its own identity, its revision named by its ReplicaSet.
        func outbound(_ deployment: String, hash: String) -> RouteIdentity {
            RouteIdentity(
                direction: .outbound, source: .endpoint,
                target: "playground-server-http.playground.svc.cluster.local:8080", route: "",
                peer: "playground/deployment/" + deployment, security: .mutualTLS,
                peerIdentity: deployment + ".playground.serviceaccount.identity.linkerd.cluster.local",
                peerReplicaSet: deployment + "-" + hash)
        }
        // The one inbound failure is on the admin port 4191: a scrape or probe, not the app's,
        // from an unmeshed client.
        let inbound = RouteIdentity(
            direction: .inbound, source: .endpoint, target: "default/all-unauthenticated:4191",
            route: "default/default", peer: "", toProxyAdmin: true, security: .noTLSFromRemote)
        #expect(
            totals == [
                outbound("playground-server-http-primary", hash: "9d9566587"): RouteTotals(failure: 65),
                outbound("playground-server-http-canary", hash: "5597c667f6"): RouteTotals(failure: 7),
                inbound: RouteTotals(failure: 1),
            ])
    }

    @Test func inboundTrafficIsTheProxysOwnOnlyOnItsAdminPort() throws {
        let page = try Fixtures.bytes("linkerd2_prommatch_sampleMetrics.txt")
        func inbound(adminPort: Int) throws -> [RouteIdentity] {
            var decoder = ProxyPageDecoder()
            decoder.adminPort = adminPort
            return try decoder.decode(page).totals().keys.filter { $0.direction == .inbound }
        }
        // The page's inbound requests went to 4191, the default admin port: its scrapes.
        let onDefault = try inbound(adminPort: 4191)
        #expect(!onDefault.isEmpty && onDefault.allSatisfy(\.toProxyAdmin))
        // A pod whose admin port was moved (config.linkerd.io/admin-port) serves its app on 4191.
        let moved = try inbound(adminPort: 9995)
        #expect(!moved.isEmpty && moved.allSatisfy { !$0.toProxyAdmin })
        // Old proxies' inbound traffic on the application's ports stays the application's.
        let controller = try decode("datadog_integrations-core_linkerd_v2_linkerd-2.3-era_controller-pod.txt")
        let routes = controller.totals().keys.filter { $0.direction == .inbound }
        #expect(!routes.isEmpty && routes.allSatisfy { !$0.toProxyAdmin })
    }

    @Test func legacyServiceProfileRoutesAndProcessStart() throws {
        let snapshot = try decode("datadog_integrations-core_linkerd_v2_linkerd-2.3-era_controller-pod.txt")
        #expect(snapshot.processStartTime == 1_560_322_933)
        #expect(snapshot.stats.samples == 1328)
        let totals = snapshot.totals()
        let prometheus = RouteIdentity(
            direction: .outbound, source: .serviceProfileRoute,
            target: "linkerd-prometheus.linkerd.svc.cluster.local:9090",
            route: "[DEFAULT]", peer: "")
        #expect(totals[prometheus]?.success == 16275)
        #expect(totals[prometheus]?.buckets[.infinity] != nil)
        // Latency bounds are converted from milliseconds: 25 finite bounds + Inf.
        #expect(totals[prometheus]?.buckets.keys.sorted().first == 0.001)
        #expect(totals[prometheus]?.buckets.count == 26)
        let sources = Set(totals.keys.map(\.source))
        #expect(sources == [.endpoint, .serviceProfileRoute, .serviceProfileRouteActual, .tcp])
    }

    @Test func buildInfoOfBothGenerations() throws {
        let old = try decode("linkerd2-proxy_pr600_proxy_build_info_2020.txt")
        #expect(old.build == ProxyBuildInfo(version: "release/v2.104.1-11-gea34a589", gitSHA: "", vendor: ""))
        let sample = try decode("linkerd2_prommatch_sampleMetrics.txt")
        #expect(sample.build?.gitSHA == "279b301")
        #expect(sample.processStartTime == 1_650_967_123)
        // An opaque-TCP app: inbound HTTP only (its scrapes), its outbound traffic is TCP.
        #expect(Set(sample.routes.filter { $0.source != .tcp }.map(\.direction)) == [.inbound])
        #expect(sample.routes.contains { $0.source == .tcp && $0.direction == .outbound })
    }

    @Test func everyFixtureDecodesWithoutBadLines() throws {
        for name in try Fixtures.pageNames() {
            var decoder = ProxyPageDecoder(badLinePolicy: .rejectPage)
            let snapshot = try decoder.decode(try Fixtures.bytes(name))
            #expect(snapshot.series.count == snapshot.values.count, "\(name)")
            #expect(snapshot.stats.badLines == 0, "\(name)")
        }
    }
}
