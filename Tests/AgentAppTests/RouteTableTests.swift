import AgentApp
import FathomModel
import RouteAggregation
import Testing

@Suite struct RouteTableTests {
    @Test(arguments: [
        (0.0045, "4.5ms"), (0.012, "12ms"), (0.0999, "100ms"), (1.25, "1.3s"), (Double.nan, "-"), (0.0, "0.0ms"),
    ])
    func latencyFormatting(seconds: Double, text: String) {
        #expect(RouteTable.latency(seconds) == text)
    }

    @Test func percentFormatting() {
        #expect(RouteTable.percent(0.98765) == "98.77%")
        #expect(RouteTable.percent(1) == "100.00%")
        #expect(RouteTable.percent(0.0005) == "0.05%")
        #expect(RouteTable.percent(nil) == "-")
    }

    @Test func rowsCarryTheWindowsNumbers() {
        let key = RouteKey(
            workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"), revision: "4",
            identity: RouteIdentity(
                direction: .outbound, source: .serviceProfileRoute, target: "cart:80", route: "GET /items/{id}",
                peer: ""))
        var route = RouteWindow(
            key: key, successCount: 95, failureCount: 5,
            latency: LatencyHistogram(upperBounds: [0.01, 0.1, .infinity], cumulativeCounts: [50, 100, 100]),
            foldedRoutes: 0, duration: 10)
        // Four 503s and a timeout: the table names the commoner.
        route.outcomes = [
            OutcomeCount(
                outcome: ResponseOutcome(httpStatus: "200", grpcStatus: nil, error: nil), success: true, count: 95),
            OutcomeCount(
                outcome: ResponseOutcome(httpStatus: "503", grpcStatus: nil, error: nil), success: false, count: 4),
            OutcomeCount(
                outcome: ResponseOutcome(httpStatus: nil, grpcStatus: nil, error: "timeout"), success: false, count: 1),
        ]
        // p50: 100 · 50/50 of (0, 10 ms] = 10 ms; p95: 10 + 90 · 45/50 = 91 ms; p99: 10 + 90 · 49/50 = 98.2 ms.
        #expect(
            RouteTable.rows([route]) == [
                [
                    "shop/web", "4", "outbound", "sp-route", "cart:80", "GET /items/{id}", "-", "-", "95.00%", "10.0",
                    "10ms", "91ms", "98ms", "5xx 80%",
                ]
            ])
        let text = RouteTable.render([route])
        #expect(text.split(separator: "\n").count == 2)
        #expect(text.hasPrefix("WORKLOAD  REV  DIR"))
    }

    @Test func edgesSayWhetherTheyAreSecuredAndTheDestinationsRevision() {
        func row(_ identity: RouteIdentity, peerRevision: String = "") -> [String] {
            var route = RouteWindow(
                key: RouteKey(
                    workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"), identity: identity),
                successCount: 1, failureCount: 0, latency: LatencyHistogram(upperBounds: [], cumulativeCounts: []),
                foldedRoutes: 0, duration: 10)
            route.peerRevision = peerRevision
            let cells = RouteTable.rows([route])[0]
            return [cells[6], cells[7]]
        }
        let toCart = RouteIdentity(
            direction: .outbound, source: .endpoint, target: "cart:80", route: "", peer: "shop/deployment/cart",
            security: .mutualTLS, peerIdentity: "cart.shop.serviceaccount.identity.linkerd.cluster.local",
            peerReplicaSet: "cart-5d8f7c9b6")
        #expect(row(toCart, peerRevision: "7") == ["shop/deployment/cart rev 7", "yes"])
        // Not numbered yet: the ReplicaSet as the proxy names it.
        #expect(row(toCart) == ["shop/deployment/cart rev cart-5d8f7c9b6", "yes"])
        let unmeshedClient = RouteIdentity(
            direction: .inbound, source: .endpoint, target: "Server/web:8080", route: "", peer: "",
            security: .noTLSFromRemote)
        #expect(row(unmeshedClient) == ["-", "no"])
        // The debug view keeps why.
        let debug = DebugRoute(
            RouteWindow(
                key: RouteKey(
                    workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"),
                    identity: unmeshedClient),
                successCount: 1, failureCount: 0, latency: LatencyHistogram(upperBounds: [], cumulativeCounts: []),
                foldedRoutes: 0, duration: 10))
        #expect(debug.security == "no-tls-from-remote" && debug.peerIdentity == nil && debug.peerRevision == nil)
    }
}

extension RouteTableTests {
    @Test func tcpAndPolicyRowsCountConnectionsAndDecisions() {
        let db = WorkloadRef(kind: "StatefulSet", namespace: "shop", name: "db")
        func route(_ source: RouteSource) -> RouteWindow {
            RouteWindow(
                key: RouteKey(
                    workload: db,
                    identity: RouteIdentity(
                        direction: .inbound, source: source, target: "Server/db:5432", route: "", peer: "")),
                successCount: 0, failureCount: 0, latency: LatencyHistogram(upperBounds: [], cumulativeCounts: []),
                foldedRoutes: 0, duration: 10)
        }
        var tcp = route(.tcp)
        tcp.tcp = TCPCounts()
        tcp.tcp?.opened = 40
        tcp.tcp?.closed = 40
        tcp.tcp?.closedByErrno = [0: 30, TCPCounter.errno("ECONNRESET"): 8, TCPCounter.errno("EPIPE"): 2]
        tcp.tcp?.bytesRead = 4_000
        // SUCCESS: clean closes; RPS: connections a second; TOP FAILURE: the commonest errno.
        let tcpRow = RouteTable.rows([tcp])[0]
        #expect(tcpRow[3] == "tcp" && tcpRow[8] == "75.00%" && tcpRow[9] == "4.0" && tcpRow[13] == "ECONNRESET 80%")
        #expect(DebugRoute(tcp).bytesRead == 4_000)
        var policy = route(.authorization)
        policy.authorization = [.tcpAllowed: 15, .tcpDenied: 4, .tcpTerminated: 1]
        let policyRow = RouteTable.rows([policy])[0]
        #expect(
            policyRow[3] == "authz" && policyRow[8] == "75.00%" && policyRow[9] == "2.0"
                && policyRow[13] == "tcp-denied 80%")
    }
}

/// The KIND legend says which quantity each family's latency is.
@Suite struct RouteLegendTests {
    @Test func everyKindHasAMeaningAndTheLegendNamesOnlyTheKindsShown() {
        for source in RouteSource.allCases {
            #expect(RouteTable.meaning(ofKind: RouteTable.kind(source)) != nil, "\(source)")
        }
        let legend = RouteTable.legend(rows: [
            ["shop/web", "3", "outbound", "http-route"], ["shop/web", "3", "outbound", "endpoint"],
        ])
        #expect(RouteTable.meaning(ofKind: RouteTable.proxyAdminKind)?.contains("not the application's") == true)
        #expect(legend.contains("http-route: HTTPRoute or GRPCRoute requests"))
        #expect(legend.contains("request duration at the route"))
        #expect(legend.contains("50 ms, 500 ms, 1 s, 10 s only"))
        #expect(legend.contains("endpoint: traffic per endpoint"))
        #expect(!legend.contains("http-backend"))
        #expect(RouteTable.meaning(ofKind: "http-backend")?.contains("response time per backend") == true)
    }
}
