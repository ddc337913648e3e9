import AgentApp
import FathomModel
import RouteAggregation
import Testing

/// `fathom-agent routes --by revision|workload`: a workload's routes folded into one row per
/// revision (or per workload) and kind, with counts, rates, failure reasons and latency buckets
/// summed, so a rollout's old and new revision read side by side.
@Suite struct RouteGroupingTests {
    static let voting = WorkloadRef(kind: "Deployment", namespace: "emojivoto", name: "voting")
    static let bounds = [0.01, 0.1, 1, Double.infinity]

    /// A route of `voting`'s `revision`: `statuses` maps an HTTP status to its count; latency
    /// buckets as given (cumulative, `+Inf` last).
    static func route(
        revision: String, source: RouteSource = .serviceProfileRoute, route: String, statuses: [String: Double],
        buckets: [Double], seconds: Double = 10
    ) -> RouteWindow {
        let identity = RouteIdentity(
            direction: .inbound, source: source, target: "voting-svc:8080", route: route, peer: "",
            security: .mutualTLS)
        let outcomes = statuses.map { status, count in
            OutcomeCount(
                outcome: ResponseOutcome(httpStatus: status, grpcStatus: nil, error: nil), success: status < "500",
                count: count)
        }
        var window = RouteWindow(
            key: RouteKey(workload: voting, revision: revision, identity: identity),
            successCount: outcomes.filter(\.success).map(\.count).reduce(0, +),
            failureCount: outcomes.filter { !$0.success }.map(\.count).reduce(0, +),
            latency: LatencyHistogram(upperBounds: bounds, cumulativeCounts: buckets), foldedRoutes: 0,
            duration: seconds)
        window.outcomes = outcomes
        return window
    }

    /// Two routes of revision 1, one of revision 2, and an endpoint row of revision 2.
    static let routes = [
        route(revision: "1", route: "GET /vote", statuses: ["200": 90, "503": 10], buckets: [40, 90, 100, 100]),
        route(revision: "1", route: "POST /vote", statuses: ["200": 50], buckets: [10, 30, 50, 50]),
        route(
            revision: "2", route: "GET /vote", statuses: ["200": 30, "503": 15, "404": 5], buckets: [5, 20, 45, 50]),
        route(revision: "2", source: .endpoint, route: "", statuses: ["200": 20], buckets: [20, 20, 20, 20]),
    ].map(DebugRoute.init)

    @Test func revisionsOfAWorkloadSideBySide() throws {
        let folded = RouteGrouping.revision.group(Self.routes)
        // One row per revision and kind: the endpoint row is not summed with the ServiceProfile routes.
        #expect(folded.count == 3)
        let first = try #require(folded.first { $0.revision == "1" && $0.kind == "sp-route" })
        let second = try #require(folded.first { $0.revision == "2" && $0.kind == "sp-route" })
        #expect(first.success == 140 && first.failure == 10)
        #expect(abs(first.rps - 15) < 1e-9, "(100 + 50) responses over 10 s")
        #expect(first.route == "*", "two routes differ")
        #expect(first.target == "voting-svc:8080" && first.security == EdgeSecurity.mutualTLS.rawValue)
        #expect(first.failures == ["5xx": 10] && first.topFailure == "5xx" && first.topFailureCount == 10)
        // The buckets are summed before the quantile, as histogram_quantile(0.5, sum by (le) (...)):
        // 150 observations, [50, 120, 150, 150]; rank 75 falls in (10 ms, 100 ms]: 10 + 90 · 25/70 ms.
        let median = try #require(first.p50)
        #expect(abs(median - (0.01 + 0.09 * 25 / 70)) < 1e-12)
        #expect(first.latencyCounts == [50, 120, 150, 150])
        // The new revision fails more, and says so in the same columns.
        #expect(second.success == 35 && second.failure == 15 && second.route == "GET /vote")
        #expect(try #require(second.successRate) < (try #require(first.successRate)))
    }

    @Test func aWorkloadsRevisionsSummedWithoutMixingKinds() throws {
        let folded = RouteGrouping.workload.group(Self.routes)
        #expect(folded.count == 2)
        let routes = try #require(folded.first { $0.kind == "sp-route" })
        #expect(routes.revision == "*" && routes.route == "*")
        #expect(routes.success == 175 && routes.failure == 25)
        #expect(abs(routes.rps - 20) < 1e-9)
        #expect(routes.latencyCounts == [55, 140, 195, 200])
        let endpoint = try #require(folded.first { $0.kind == "endpoint" })
        #expect(endpoint.revision == "2" && endpoint.success == 20, "a single row keeps its own cells")
        // By route, nothing is folded.
        #expect(RouteGrouping.route.group(Self.routes) == Self.routes)
    }

    @Test func differentBucketsGiveNoQuantileAndMixedEdgesSaySome() throws {
        var coarse = Self.routes[1]
        coarse.latencyBounds = [0.05, 0.5]
        coarse.latencyCounts = [10, 50, 50]
        coarse.security = EdgeSecurity.noTLSFromRemote.rawValue
        let folded = try #require(RouteGrouping.revision.group([Self.routes[0], coarse]).first)
        #expect(folded.p50 == nil && folded.latencyCounts == nil, "no sum of unlike buckets is a histogram")
        #expect(folded.success == 140, "the counts are still summed")
        let row = RouteTable.rows([folded])[0]
        #expect(row[7] == "some")
    }

    @Test func everyFailureReasonWithItsShare() throws {
        var timeouts = Self.route(
            revision: "2", route: "GET /vote", statuses: ["503": 6], buckets: [0, 0, 6, 6])
        timeouts.outcomes += [
            OutcomeCount(
                outcome: ResponseOutcome(httpStatus: nil, grpcStatus: nil, error: "timeout"), success: false,
                count: 3),
            OutcomeCount(
                outcome: ResponseOutcome(httpStatus: "500", grpcStatus: nil, error: nil), success: false, count: 1),
        ]
        timeouts.failureCount = 10
        let row = DebugRoute(timeouts)
        // 503s and 500s are one class; the timeout is named by its error reason.
        #expect(row.failures == ["5xx": 7, "timeout": 3])
        let cells = RouteTable.rows([row], allFailures: true)[0]
        #expect(cells.last == "5xx 70%, timeout 30%")
        #expect(RouteTable.rows([row])[0].last == "5xx 70%")
        #expect(RouteTable.headerWithFailures.last == "FAILURES" && RouteTable.headerWithFailures.count == cells.count)
    }
}
