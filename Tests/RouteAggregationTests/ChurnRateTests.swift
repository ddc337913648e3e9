import FathomModel
import RouteAggregation
import Testing

/// A route's rate (count ÷ `duration`) through the churn every rollout brings: pods added,
/// removed and replaced inside a window, and a proxy that restarts. The truth is what the pods
/// served: each pod's rate times the share of the window it was alive, summed. Every pod serves
/// exactly its rate, so the agent's figure must be the truth to rounding, whatever the scrape
/// offsets.
@Suite struct ChurnRateTests {
    /// A pod serving `rate` requests a second from `start` until `end`; its proxy restarts at
    /// each of `restarts` (its counters start again from zero).
    struct Pod {
        var id: ProxyID
        var start: Double
        var end = Double.infinity
        var rate = 10.0
        /// Its scrapes are at `offset` past each multiple of the interval.
        var offset: Double
        var restarts: [Double] = []

        /// When the current process started, and its counter, at `time`.
        func page(at time: Double) -> (processStart: Double, count: Double) {
            let processStart = ([start] + restarts.filter { $0 <= time }).max()!
            return (processStart, rate * (time - processStart))
        }
    }

    static let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
    static let interval = 10.0
    static let window = 60.0
    /// The agent starts here; pods started before it are only a baseline on their first page.
    static let agentStart = 1_000.0

    /// Runs the pods through `windows` windows of 60 s, scraping each every 10 s and forgetting it
    /// when it ends; returns each window's rate and the truth. With `connections`, the pods open
    /// TCP connections at their rate instead of serving requests.
    static func rates(_ pods: [Pod], windows: Int, connections: Bool = false) -> [(measured: Double, truth: Double)] {
        var aggregator = RouteAggregator(startedAt: agentStart)
        var forgotten: Set<ProxyID> = []
        var results: [(Double, Double)] = []
        for index in 0..<windows {
            let windowStart = agentStart + Double(index) * window
            let windowEnd = windowStart + window
            // Every event of the window in time order: scrapes and removals.
            var events: [(time: Double, pod: Pod, removal: Bool)] = []
            for pod in pods {
                var time = (windowStart / interval).rounded(.down) * interval + pod.offset
                while time < windowEnd {
                    if time >= windowStart, time >= pod.start, time < pod.end { events.append((time, pod, false)) }
                    time += interval
                }
                if pod.end >= windowStart, pod.end < windowEnd { events.append((pod.end, pod, true)) }
            }
            for event in events.sorted(by: { $0.time < $1.time }) {
                if event.removal {
                    aggregator.forgetProxy(event.pod.id, at: event.time)
                    forgotten.insert(event.pod.id)
                    continue
                }
                let page = event.pod.page(at: event.time)
                let snapshot =
                    connections
                    ? ProxySnapshot(
                        epoch: 1,
                        routes: [
                            RouteIdentity(
                                direction: .inbound, source: .tcp, target: "server/db:5432", route: "", peer: "")
                        ],
                        seriesRoles: [(0, .tcp(.opened)), (0, .tcp(.bytesRead))],
                        values: [page.count, 100 * page.count],
                        processStartTime: page.processStart)
                    : SnapshotBuilder(epoch: 1, startTime: page.processStart).snapshot([
                        page.count, 0, page.count, page.count, page.count, 0,
                    ])
                aggregator.ingest(snapshot, from: event.pod.id, workload: web, at: event.time)
            }
            let closed = aggregator.closeWindow(at: windowEnd)
            let served = pods.reduce(0.0) { sum, pod in
                sum + pod.rate * max(0, min(pod.end, windowEnd) - max(pod.start, windowStart))
            }
            let measured =
                connections
                ? closed.routes.first.map { ($0.tcp?.opened ?? 0) / $0.duration } ?? 0
                : closed.routes.first?.requestRate ?? 0
            results.append((measured, served / window))
        }
        return results
    }

    static func expectTruth(_ rates: [(measured: Double, truth: Double)], skipFirst: Bool = false) {
        for (index, rate) in rates.enumerated() where !(skipFirst && index == 0) {
            #expect(
                abs(rate.measured - rate.truth) <= 1e-9 * rate.truth,
                "window \(index + 1): \(rate.measured) requests per second, the pods served \(rate.truth)")
        }
    }

    @Test func aPodReplacedMidWindowIsHalfAPodEach() {
        // Two replicas at 10/s; in the second window pod b is deleted at 1 083 and pod c starts at
        // 1 084. Counting the three pods' mean coverage gave 30/s here.
        let rates = Self.rates(
            [
                Pod(id: ProxyID("a"), start: 900, offset: 3),
                Pod(id: ProxyID("b"), start: 900, end: 1_083, offset: 7),
                Pod(id: ProxyID("c"), start: 1_084, offset: 5),
            ], windows: 3)
        Self.expectTruth(rates)
        #expect(abs(rates[1].truth - (10 + 10 * 23.0 / 60 + 10 * 36.0 / 60)) < 1e-9)
    }

    @Test func aTCPRoutesConnectionsWeighItsPodsAsRequestsDo() {
        // A database's pod replaced by a busier one: each pod's connections weigh its rate, as
        // requests do (the pods' time alive alone would weigh the busy pod like the others).
        let rates = Self.rates(
            [
                Pod(id: ProxyID("a"), start: 900, offset: 3),
                Pod(id: ProxyID("b"), start: 900, end: 1_083, offset: 7),
                Pod(id: ProxyID("c"), start: 1_084, rate: 40, offset: 5),
            ], windows: 3, connections: true)
        Self.expectTruth(rates)
        #expect(rates.allSatisfy { $0.measured > 0 })
    }

    @Test func scalingDownAndUpWeighsEachPodByItsTimeAlive() {
        // 2 → 1 in the second window (a +33 % rate before), then 1 → 3 in the third.
        let rates = Self.rates(
            [
                Pod(id: ProxyID("a"), start: 900, offset: 1),
                Pod(id: ProxyID("b"), start: 900, end: 1_090, offset: 4),
                Pod(id: ProxyID("c"), start: 1_135, rate: 20, offset: 2),
                Pod(id: ProxyID("d"), start: 1_150, rate: 5, offset: 9),
            ], windows: 4)
        Self.expectTruth(rates)
        #expect(abs(rates[1].truth - 15) < 1e-9)
    }

    @Test func aRestartLosesOnlyWhatTheOldProcessServedAfterItsLastScrape() {
        // Pod a's proxy restarts at 1 076, 3 s after its scrape at 1 073: those 3 s are lost,
        // and the window's coverage leaves them out (a −5 % rate before).
        var rates = Self.rates(
            [
                Pod(id: ProxyID("a"), start: 900, offset: 3, restarts: [1_076]),
                Pod(id: ProxyID("b"), start: 900, offset: 8),
            ], windows: 3)
        Self.expectTruth(rates)
        // And one that restarts twice in one window, once right after a window closed.
        rates = Self.rates(
            [Pod(id: ProxyID("a"), start: 900, offset: 6, restarts: [1_061, 1_100])], windows: 3)
        Self.expectTruth(rates)
    }

    @Test func aPodAddedAndRemovedInsideOneWindowCountsForItsLife() {
        let rates = Self.rates(
            [
                Pod(id: ProxyID("a"), start: 900, offset: 0),
                Pod(id: ProxyID("short"), start: 1_071, end: 1_105, rate: 40, offset: 6),
            ], windows: 3)
        Self.expectTruth(rates)
    }
}

/// `tcp_open_connections` is a gauge: each window reports the connections open at its end,
/// summed over the pods alive then, as PromQL's `sum()` at that moment.
@Suite struct OpenConnectionsTests {
    static let db = WorkloadRef(kind: "StatefulSet", namespace: "shop", name: "db")
    static let route = RouteIdentity(direction: .inbound, source: .tcp, target: "server/db:5432", route: "", peer: "")

    /// A page with `opened` connections opened so far and `open` open now, on two series of one
    /// route (two client addresses).
    static func page(opened: Double, open: (Double, Double)) -> ProxySnapshot {
        ProxySnapshot(
            epoch: 1, routes: [route],
            seriesRoles: [(0, .tcp(.opened)), (0, .openConnections), (0, .openConnections)],
            values: [opened, open.0, open.1], processStartTime: 500)
    }

    @Test func theGaugeIsSummedAtTheWindowsEndNeverDifferenced() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        let (a, b) = (ProxyID("db-0"), ProxyID("db-1"))
        // The first page is a baseline for the counter, but the gauge is read as it is.
        aggregator.ingest(Self.page(opened: 100, open: (3, 2)), from: a, workload: Self.db, at: 1_001)
        aggregator.ingest(Self.page(opened: 50, open: (1, 0)), from: b, workload: Self.db, at: 1_002)
        var window = aggregator.closeWindow(at: 1_010)
        #expect(window.routes.first?.tcp?.openConnections == 6)
        #expect(window.routes.first?.tcp?.opened == 0)
        // Fewer open now than before: no "reset", just the value; the last page of each pod counts.
        aggregator.ingest(Self.page(opened: 110, open: (1, 1)), from: a, workload: Self.db, at: 1_011)
        aggregator.ingest(Self.page(opened: 120, open: (4, 4)), from: a, workload: Self.db, at: 1_015)
        aggregator.ingest(Self.page(opened: 55, open: (2, 0)), from: b, workload: Self.db, at: 1_012)
        window = aggregator.closeWindow(at: 1_020)
        let route = try #require(window.routes.first)
        #expect(route.tcp?.openConnections == 10)
        #expect(route.tcp?.opened == 25)
        #expect(aggregator.stats.counterResets == 0)
        // A pod gone: its connections are no longer open anywhere.
        aggregator.forgetProxy(b, at: 1_021)
        aggregator.ingest(Self.page(opened: 120, open: (4, 4)), from: a, workload: Self.db, at: 1_025)
        #expect(aggregator.closeWindow(at: 1_030).routes.first?.tcp?.openConnections == 8)
        // Absent from the page (no connection has been open since the proxy restarted the
        // series): nothing open.
        aggregator.ingest(
            ProxySnapshot(
                epoch: 1, routes: [Self.route],
                seriesRoles: [(0, .tcp(.opened)), (0, .openConnections), (0, .openConnections)],
                values: [121, .nan, .nan], processStartTime: 500), from: a, workload: Self.db, at: 1_035)
        #expect(aggregator.closeWindow(at: 1_040).routes.first?.tcp?.openConnections ?? 0 == 0)
    }
}
