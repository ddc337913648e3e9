import FathomModel
import LinkerdMetrics
import RouteAggregation
import Testing

/// Pods behind a service come and go, so a proxy's legacy series (one per destination pod) churn.
/// The decoder must stay bounded, and its renumbering must not lose or double a request.
@Suite struct ChurnTests {
    /// A client proxy's page: one `response_total` series per live destination pod.
    static func page(_ counters: [(pod: String, value: Int)]) -> [UInt8] {
        var text = "# HELP response_total Total count of HTTP responses.\n# TYPE response_total counter\n"
        for (pod, value) in counters {
            text +=
                "response_total{direction=\"outbound\",authority=\"cart.shop.svc.cluster.local:80\",dst_deployment=\"cart\",dst_namespace=\"shop\",dst_pod=\"\(pod)\",status_code=\"200\",classification=\"success\",grpc_status=\"\",error=\"\"} \(value)\n"
        }
        text += "process_start_time_seconds 100\n"
        return Array(text.utf8)
    }

    @Test func memoryStaysBoundedAndEveryRequestIsCounted() async throws {
        var decoder = ProxyPageDecoder()
        decoder.staleAfterPages = 5
        decoder.compactionCheckInterval = 2
        var aggregator = RouteAggregator(startedAt: 1_000)
        let client = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
        var live: [(pod: String, value: Int)] = []
        var nextPod = 0
        var requestsSinceWindow = 0
        var largestNumbering = 0
        var renumberings = 0

        for pageIndex in 0..<400 {
            if pageIndex % 20 == 0 { await Task.yield() }
            // Every 3 pages one destination pod is replaced by a new one.
            if pageIndex % 3 == 0 {
                if live.count >= 4 { live.removeFirst() }
                live.append(("cart-\(nextPod)", 0))
                nextPod += 1
            }
            for index in live.indices {
                let requests = (pageIndex + index) % 7 + 1
                live[index].value += requests
                requestsSinceWindow += requests
            }
            let snapshot = try decoder.decode(Self.page(live))
            if snapshot.renumbering != nil { renumberings += 1 }
            largestNumbering = max(largestNumbering, snapshot.series.count)
            aggregator.ingest(snapshot, from: ProxyID("web-1"), workload: client, at: 1_000 + Double(pageIndex))
            // The proxy started before the agent, so its first page is only a baseline.
            if pageIndex == 0 { requestsSinceWindow = 0 }
            if pageIndex % 10 == 9 {
                let window = aggregator.closeWindow(at: 1_000 + Double(pageIndex))
                let counted = window.routes.reduce(0) { $0 + $1.successCount }
                #expect(counted == Double(requestsSinceWindow), "window ending at page \(pageIndex)")
                requestsSinceWindow = 0
            }
        }
        // 134 pods came and went; the decoder only ever held a few more than the 4 live ones.
        #expect(nextPod == 134)
        #expect(largestNumbering <= 12)
        #expect(renumberings > 10)
        #expect(aggregator.stats.renumberings == renumberings)
        #expect(aggregator.stats.rebaselines == 0)
    }

    @Test func missedRenumberingRebaselinesInsteadOfMisattributing() throws {
        var decoder = ProxyPageDecoder()
        decoder.staleAfterPages = 1
        decoder.compactionCheckInterval = 1
        var aggregator = RouteAggregator(startedAt: 1_000)
        let client = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
        aggregator.ingest(
            try decoder.decode(Self.page([("a", 1), ("b", 1)])), from: ProxyID("p"), workload: client, at: 1_001)
        _ = try decoder.decode(Self.page([("b", 2)]))
        // This page renumbers (series "a" is gone); the aggregator never sees it.
        let renumbered = try decoder.decode(Self.page([("b", 3)]))
        #expect(renumbered.renumbering != nil)
        let next = try decoder.decode(Self.page([("b", 4)]))
        aggregator.ingest(next, from: ProxyID("p"), workload: client, at: 1_004)
        #expect(aggregator.stats.rebaselines == 1)
        #expect(aggregator.closeWindow(at: 1_010).routes.isEmpty)
    }
}
