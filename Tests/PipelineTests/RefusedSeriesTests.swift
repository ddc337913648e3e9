import FathomModel
import LinkerdMetrics
import RouteAggregation
import Testing

/// A series the decoder refused at its series limit and numbered later, once forgotten series
/// made room, has a history the agent never read: its first value is a baseline.
@Suite struct RefusedSeriesTests {
    let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")

    @Test func aSeriesRefusedAtTheLimitAndAdmittedLaterIsBaselined() throws {
        var decoder = ProxyPageDecoder(maxSeries: 3)
        decoder.staleAfterPages = 1
        decoder.compactionCheckInterval = 1
        var aggregator = RouteAggregator(startedAt: 1_000)
        func page(_ counters: [(pod: String, value: Int)]) -> [UInt8] {
            var text = "process_start_time_seconds 100\n"
            for (pod, value) in counters {
                text +=
                    "response_total{direction=\"outbound\",authority=\"cart.shop.svc.cluster.local:80\",dst_deployment=\"cart\",dst_namespace=\"shop\",dst_pod=\"\(pod)\",status_code=\"200\",classification=\"success\",grpc_status=\"\",error=\"\"} \(value)\n"
            }
            return Array(text.utf8)
        }
        // Three series fit (the start time and two pods); the third pod's is refused. Pod a
        // goes, so its series is forgotten and pod c's admitted: by then c has 100 and more since
        // the first page.
        let b = [20, 21, 22, 23, 24, 25]
        let c = [500, 600, 632, 640, 650, 665]
        var admittedAt: Int?
        var refused = 0
        for index in b.indices {
            let counters = (index == 0 ? [("a", 10)] : []) + [("b", b[index]), ("c", c[index])]
            let snapshot = try decoder.decode(page(counters))
            refused += snapshot.stats.seriesOverLimit
            if !snapshot.admittedAfterRefusal.isEmpty {
                #expect(admittedAt == nil)
                admittedAt = index
            }
            aggregator.ingest(snapshot, from: ProxyID("p"), workload: web, at: 1_001 + Double(index))
        }
        #expect(refused >= 1)
        let admitted = try #require(admittedAt, "c is never admitted")
        try #require(admitted < b.count - 1, "c is admitted on the last page")
        let window = aggregator.closeWindow(at: 1_010)
        // b: every increase; c: only since the page that admitted it, never its history.
        let total = window.routes.reduce(0) { $0 + $1.successCount }
        #expect(total == Double(b.last! - b.first! + c.last! - c[admitted]), "counted \(total)")
    }
}
