import FathomModel
import RouteAggregation
import Testing

/// Builds snapshots the way a decoder numbers series: one route with a response counter pair and
/// a three-bucket histogram.
struct SnapshotBuilder {
    static let route = RouteIdentity(
        direction: .outbound, source: .httpRoute, target: "Service/shop/cart:80", route: "default/http", peer: "")
    static let series: [(route: Int32, role: SeriesRole)] = [
        (0, .responses(success: true)),
        (0, .responses(success: false)),
        (0, .latencyBucket(upperBoundSeconds: 0.1)),
        (0, .latencyBucket(upperBoundSeconds: 1)),
        (0, .latencyBucket(upperBoundSeconds: .infinity)),
        (0, .latencySum(unitsPerSecond: 1_000)),
    ]

    var epoch: UInt64 = 7
    var startTime: Double? = 100

    /// Values in series order: success, failure, ≤0.1 s, ≤1 s, +Inf, sum in ms. NaN = absent.
    func snapshot(_ values: [Double], badLines: Int = 0) -> ProxySnapshot {
        var stats = PageStats()
        stats.badLines = badLines
        return ProxySnapshot(
            epoch: epoch, routes: [Self.route], seriesRoles: Self.series, values: values, processStartTime: startTime,
            stats: stats)
    }
}

@Suite struct RouteAggregatorTests {
    let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
    let podA = ProxyID("pod-a")
    let podB = ProxyID("pod-b")
    let builder = SnapshotBuilder()

    func single(_ window: AggregationWindow) throws -> RouteWindow {
        try #require(window.routes.count == 1)
        return window.routes[0]
    }

    @Test func firstPageIsBaselineThenDeltasCount() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([90, 10, 50, 95, 100, 20_000]), from: podA, workload: web, at: 1001)
        #expect(aggregator.closeWindow(at: 1_010).routes.isEmpty)

        aggregator.ingest(builder.snapshot([120, 15, 60, 130, 135, 26_000]), from: podA, workload: web, at: 1011)
        let route = try single(aggregator.closeWindow(at: 1_020))
        #expect(route.key == RouteKey(workload: web, identity: SnapshotBuilder.route))
        #expect(route.successCount == 30)
        #expect(route.failureCount == 5)
        #expect(route.requestRate == 3.5)
        #expect(route.successRate == 30.0 / 35.0)
        #expect(route.latency.upperBounds == [0.1, 1, .infinity])
        #expect(route.latency.cumulativeCounts == [10, 35, 35])
        #expect(route.latency.sum == 6)
        // rank 17.5 falls in (0.1, 1]: 0.1 + 0.9·(17.5 − 10)/25.
        #expect(abs(route.latencyQuantile(0.5) - 0.37) < 1e-12)
    }

    @Test func proxyStartedAfterAgentCountsItsFirstPage() throws {
        var aggregator = RouteAggregator(startedAt: 50)
        aggregator.ingest(builder.snapshot([4, 1, 5, 5, 5, 100]), from: podA, workload: web, at: 51)
        let route = try single(aggregator.closeWindow(at: 60))
        #expect(route.successCount == 4)
        #expect(route.failureCount == 1)
    }

    @Test func counterResetCountsNewValue() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([100, 10, 100, 110, 110, 1_000]), from: podA, workload: web, at: 1001)
        // Success went down: reset; it counts 7. Failure grew by 2.
        aggregator.ingest(builder.snapshot([7, 12, 100, 110, 110, 1_000]), from: podA, workload: web, at: 1002)
        let route = try single(aggregator.closeWindow(at: 1_010))
        #expect(route.successCount == 7)
        #expect(route.failureCount == 2)
        #expect(aggregator.stats.counterResets == 1)
    }

    @Test func restartCountsEverythingEvenIfValuesGrew() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        var before = builder
        before.startTime = 100
        aggregator.ingest(before.snapshot([5, 0, 5, 5, 5, 10]), from: podA, workload: web, at: 1001)
        var after = builder
        after.startTime = 2_000
        // After the restart the counter reads 8, higher than the 5 before: still all new.
        aggregator.ingest(after.snapshot([8, 1, 9, 9, 9, 30]), from: podA, workload: web, at: 1002)
        let route = try single(aggregator.closeWindow(at: 2_010))
        #expect(route.successCount == 8)
        #expect(route.failureCount == 1)
        #expect(aggregator.stats.proxyRestarts == 1)
    }

    @Test func aSeriesAbsentFromAPageResumesFromItsLastValue() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([50, 5, 55, 55, 55, 100]), from: podA, workload: web, at: 1001)
        // A page cut cleanly at a line end (no bad line): every series is missing.
        aggregator.ingest(builder.snapshot([.nan, .nan, .nan, .nan, .nan, .nan]), from: podA, workload: web, at: 1002)
        #expect(aggregator.closeWindow(at: 1_010).routes.isEmpty)
        aggregator.ingest(builder.snapshot([60, 6, 61, 61, 61, 110]), from: podA, workload: web, at: 1011)
        let route = try single(aggregator.closeWindow(at: 1_020))
        // Continuous through the gap, as Prometheus's increase: 10 and 1, not 60 and 6.
        #expect(route.successCount == 10)
        #expect(route.failureCount == 1)
        #expect(aggregator.stats.counterResets == 0)
        // A series that comes back lower after a gap was reset: its new value counts.
        aggregator.ingest(builder.snapshot([.nan, .nan, .nan, .nan, .nan, .nan]), from: podA, workload: web, at: 1021)
        aggregator.ingest(builder.snapshot([3, 6, 64, 64, 64, 119]), from: podA, workload: web, at: 1022)
        let reset = try single(aggregator.closeWindow(at: 1_030))
        #expect(reset.successCount == 3 && reset.failureCount == 0)
        #expect(aggregator.stats.counterResets == 1)
    }

    @Test func aTruncatedPageDoesNotForgetMissingSeries() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([50, 5, 55, 55, 55, 100]), from: podA, workload: web, at: 1001)
        // A truncated page: failure and the histogram are cut off.
        aggregator.ingest(
            builder.snapshot([60, .nan, .nan, .nan, .nan, .nan], badLines: 1), from: podA, workload: web, at: 1002)
        aggregator.ingest(builder.snapshot([70, 6, 66, 66, 66, 110]), from: podA, workload: web, at: 1003)
        let route = try single(aggregator.closeWindow(at: 1_010))
        // Without the rule the failure counter would count 6 instead of 1.
        #expect(route.successCount == 20)
        #expect(route.failureCount == 1)
        #expect(route.latency.cumulativeCounts == [11, 11, 11])
    }

    @Test func podsOfOneWorkloadMergeBucketByBucket() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([0, 0, 0, 0, 0, 0]), from: podA, workload: web, at: 1001)
        aggregator.ingest(builder.snapshot([10, 0, 10, 10, 10, 0]), from: podB, workload: web, at: 1002)
        aggregator.ingest(builder.snapshot([10, 0, 10, 10, 10, 500]), from: podA, workload: web, at: 1003)
        aggregator.ingest(builder.snapshot([40, 0, 10, 40, 40, 0]), from: podB, workload: web, at: 1004)
        let route = try single(aggregator.closeWindow(at: 1_010))
        #expect(route.successCount == 40)
        #expect(route.latency.cumulativeCounts == [10, 40, 40])
        // rank 20 falls in (0.1, 1]: 0.1 + 0.9·(20 − 10)/30.
        #expect(abs(route.latencyQuantile(0.5) - 0.4) < 1e-12)
    }

    @Test func forgottenProxyStopsCountingAndIdleSeriesIsDropped() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([1, 0, 1, 1, 1, 1]), from: podA, workload: web, at: 1001)
        aggregator.ingest(builder.snapshot([2, 0, 2, 2, 2, 2]), from: podA, workload: web, at: 1002)
        #expect(aggregator.seriesCount == 1)
        aggregator.forgetProxy(podA, at: 1_003)
        #expect(aggregator.proxyCount == 0)
        #expect(aggregator.closeWindow(at: 1_010).routes.count == 1)
        #expect(aggregator.closeWindow(at: 1_020).routes.isEmpty)
        #expect(aggregator.seriesCount == 0)
        // Coming back, the proxy is new: baseline first.
        aggregator.ingest(builder.snapshot([9, 0, 9, 9, 9, 9]), from: podA, workload: web, at: 1021)
        #expect(aggregator.closeWindow(at: 1_030).routes.isEmpty)
    }

    @Test func newEpochRebaselines() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(builder.snapshot([1, 0, 1, 1, 1, 1]), from: podA, workload: web, at: 1001)
        var renumbered = builder
        renumbered.epoch = 8
        aggregator.ingest(renumbered.snapshot([5, 0, 5, 5, 5, 5]), from: podA, workload: web, at: 1002)
        #expect(aggregator.closeWindow(at: 1_010).routes.isEmpty)
        #expect(aggregator.stats.rebaselines == 1)
    }

    @Test func cardinalityCapFoldsExtraRoutesIntoOverflow() throws {
        var aggregator = RouteAggregator(startedAt: 0, limits: .init(maxRoutesPerWorkload: 2))
        let routes = (0..<5).map { index in
            RouteIdentity(
                direction: .outbound, source: .serviceProfileRoute, target: "svc:80", route: "GET /r\(index)", peer: "")
        }
        let series = (0..<5).map { (route: Int32($0), role: SeriesRole.responses(success: true)) }
        let snapshot = ProxySnapshot(
            epoch: 1, routes: routes, seriesRoles: series, values: [1, 2, 3, 4, 5], processStartTime: 10)
        aggregator.ingest(snapshot, from: podA, workload: web, at: 1)
        let window = aggregator.closeWindow(at: 10)
        #expect(window.routes.count == 3)
        let overflow = try #require(window.routes.first { $0.key.isOverflow })
        #expect(overflow.successCount == 3 + 4 + 5)
        #expect(overflow.foldedRoutes == 3)
        #expect(window.routes.filter { !$0.key.isOverflow }.map(\.successCount).sorted() == [1, 2])
        #expect(aggregator.stats.foldedRoutes == 3)
        #expect(aggregator.seriesCount == 3)
    }

    @Test func windowsDoNotOverlapAndEachRouteSaysTheTimeItsCountsCover() throws {
        var aggregator = RouteAggregator(startedAt: 0)
        var start = builder
        // Started with the aggregator: its first page counts, from its start.
        start.startTime = 0
        aggregator.ingest(start.snapshot([1, 0, 1, 1, 1, 1]), from: podA, workload: web, at: 2)
        let first = aggregator.closeWindow(at: 10)
        aggregator.ingest(start.snapshot([3, 0, 3, 3, 3, 3]), from: podA, workload: web, at: 12)
        let second = aggregator.closeWindow(at: 25)
        #expect(first.start == 0 && first.end == 10)
        #expect(second.start == 10 && second.end == 25)
        #expect(try single(first).successCount == 1)
        #expect(try single(second).successCount == 2)
        // The counts cover the scrapes' times, not the windows': 0 → 2 s, then 2 → 12 s.
        #expect(try single(first).duration == 2)
        #expect(try single(second).duration == 10)
    }

    @Test func theFirstAndLastWindowsRatesAreHonest() throws {
        // Two pods, 1 request per second each, scraped every 10 s at different offsets; windows
        // of 30 s. The first window's counts start at each pod's first (baseline) scrape, so
        // they cover 20 s, not 30: the rate is 2/s, not 40/30.
        var aggregator = RouteAggregator(startedAt: 1_000)
        func scrape(_ pod: ProxyID, _ time: Double) {
            let count = time - 900  // requests since the pod started at 900, one per second
            aggregator.ingest(builder.snapshot([count, 0, count, count, count, 0]), from: pod, workload: web, at: time)
        }
        for offset in stride(from: 1.0, through: 21, by: 10) {
            scrape(podA, 1_000 + offset)
            scrape(podB, 1_004 + offset)
        }
        let first = try single(aggregator.closeWindow(at: 1_030))
        #expect(first.successCount == 40)
        #expect(first.duration == 20)
        #expect(first.requestRate == 2)
        // The last window closes early (a shutdown at 1 038): only pod a was scraped since.
        scrape(podA, 1_031)
        let last = try single(aggregator.closeWindow(at: 1_038))
        #expect(last.successCount == 10 && last.duration == 10)
        #expect(last.requestRate == 1, "one pod's traffic over the time it covers")
        // A pod removed mid-window keeps the time its counts cover, and weighs as much as the
        // share of the window it was alive: 7 of its 12 s.
        scrape(podA, 1_041)
        scrape(podB, 1_045)
        aggregator.forgetProxy(podB, at: 1_045)
        let removed = try single(aggregator.closeWindow(at: 1_050))
        #expect(removed.successCount == 10 + 20)
        #expect(abs(removed.duration - 30.0 * 12 / 19) < 1e-9)
        #expect(abs(removed.requestRate - 19.0 / 12) < 1e-9, "pod a for 12 s and pod b for 7, at 1/s")
    }
}

/// A workload's routes are kept per revision of the pods that served them, so a rollout shows
/// the old and the new revision side by side, and the cardinality cap counts each revision's.
@Suite struct RevisionKeyTests {
    let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
    let builder = SnapshotBuilder()

    @Test func podsOfTwoRevisionsAreRowsOfTheirOwn() throws {
        var aggregator = RouteAggregator(startedAt: 1_000)
        for (pod, revision) in [("old", "4"), ("new", "5")] {
            aggregator.ingest(
                builder.snapshot([0, 0, 0, 0, 0, 0]), from: ProxyID(pod), workload: web, revision: revision, at: 1_001)
        }
        aggregator.ingest(
            builder.snapshot([90, 10, 100, 100, 100, 0]), from: ProxyID("old"), workload: web, revision: "4", at: 1_002)
        aggregator.ingest(
            builder.snapshot([20, 80, 100, 100, 100, 0]), from: ProxyID("new"), workload: web, revision: "5", at: 1_002)
        let window = aggregator.closeWindow(at: 1_010)
        let byRevision = Dictionary(uniqueKeysWithValues: window.routes.map { ($0.key.revision, $0) })
        #expect(Set(byRevision.keys) == ["4", "5"])
        #expect(byRevision["4"]?.successRate == 0.9)
        #expect(byRevision["5"]?.successRate == 0.2)
        // The old revision's pod is gone: its row is dropped once it had no traffic for a window.
        aggregator.forgetProxy(ProxyID("old"), at: 1_011)
        aggregator.ingest(
            builder.snapshot([30, 80, 110, 110, 110, 0]), from: ProxyID("new"), workload: web, revision: "5", at: 1_012)
        #expect(aggregator.closeWindow(at: 1_020).routes.map(\.key.revision) == ["5"])
        #expect(aggregator.closeWindow(at: 1_030).routes.isEmpty)
        #expect(aggregator.seriesCount == 1)
    }

    @Test func aRevisionRenamedUnderARunningPodMovesItsRoutesWithoutLosingACount() throws {
        // `kubectl rollout undo` renumbers the old ReplicaSet: its running pods' revision is now 3.
        var aggregator = RouteAggregator(startedAt: 1_000)
        let pod = ProxyID("web-1")
        aggregator.ingest(builder.snapshot([0, 0, 0, 0, 0, 0]), from: pod, workload: web, revision: "1", at: 1_001)
        aggregator.ingest(builder.snapshot([10, 0, 10, 10, 10, 0]), from: pod, workload: web, revision: "1", at: 1_002)
        aggregator.ingest(builder.snapshot([25, 1, 26, 26, 26, 0]), from: pod, workload: web, revision: "3", at: 1_003)
        let window = aggregator.closeWindow(at: 1_010)
        let byRevision = Dictionary(uniqueKeysWithValues: window.routes.map { ($0.key.revision, $0) })
        #expect(byRevision["1"]?.successCount == 10)
        #expect(byRevision["3"]?.successCount == 15 && byRevision["3"]?.failureCount == 1)
        #expect(byRevision["3"]?.latency.cumulativeCounts == [16, 16, 16])
        #expect(aggregator.stats.rebaselines == 0)
        // The old name is dropped once nothing maps it.
        aggregator.ingest(builder.snapshot([26, 1, 27, 27, 27, 0]), from: pod, workload: web, revision: "3", at: 1_011)
        #expect(aggregator.closeWindow(at: 1_020).routes.map(\.key.revision) == ["3"])
        #expect(aggregator.seriesCount == 1)
    }

    @Test func theCardinalityCapCountsEachRevisionsRoutes() throws {
        var aggregator = RouteAggregator(startedAt: 1_000, limits: .init(maxRoutesPerWorkload: 1))
        for (pod, revision) in [("old", "4"), ("new", "5")] {
            aggregator.ingest(
                builder.snapshot([0, 0, 0, 0, 0, 0]), from: ProxyID(pod), workload: web, revision: revision, at: 1_001)
            aggregator.ingest(
                builder.snapshot([5, 0, 5, 5, 5, 0]), from: ProxyID(pod), workload: web, revision: revision, at: 1_002)
        }
        let routes = aggregator.closeWindow(at: 1_010).routes
        #expect(routes.count == 2)
        #expect(routes.filter(\.key.isOverflow).count == 1)
        #expect(aggregator.stats.foldedRoutes == 1)
    }
}

/// Why responses failed, per route and window: the increases of each outcome's series.
@Suite struct OutcomeTests {
    @Test func outcomesAreIncreasesThatAddUpToTheCounts() throws {
        let ok = ResponseOutcome(httpStatus: "200", grpcStatus: nil, error: nil)
        let unavailable = ResponseOutcome(httpStatus: "503", grpcStatus: nil, error: nil)
        let failFast = ResponseOutcome(httpStatus: nil, grpcStatus: nil, error: "FAIL_FAST")
        let route = RouteIdentity(
            direction: .outbound, source: .httpRoute, target: "Service/shop/cart:80", route: "default/http", peer: "")
        func snapshot(_ values: [Double]) -> ProxySnapshot {
            ProxySnapshot(
                epoch: 1, routes: [route],
                seriesRoles: [
                    (0, .responses(success: true, outcome: ok)), (0, .responses(success: false, outcome: unavailable)),
                    (0, .responses(success: false, outcome: failFast)),
                ], values: values, processStartTime: 10)
        }
        let web = WorkloadRef(kind: "Deployment", namespace: "shop", name: "web")
        var aggregator = RouteAggregator(startedAt: 1_000)
        aggregator.ingest(snapshot([100, 5, 1]), from: ProxyID("a"), workload: web, at: 1_001)
        aggregator.ingest(snapshot([150, 9, 31]), from: ProxyID("a"), workload: web, at: 1_002)
        let first = try #require(aggregator.closeWindow(at: 1_010).routes.first)
        #expect(
            first.outcomes == [
                OutcomeCount(outcome: ok, success: true, count: 50),
                OutcomeCount(outcome: failFast, success: false, count: 30),
                OutcomeCount(outcome: unavailable, success: false, count: 4),
            ])
        #expect(first.successCount == 50 && first.failureCount == 34)
        // The next window starts from nothing.
        aggregator.ingest(snapshot([151, 9, 31]), from: ProxyID("a"), workload: web, at: 1_011)
        let second = try #require(aggregator.closeWindow(at: 1_020).routes.first)
        #expect(second.outcomes == [OutcomeCount(outcome: ok, success: true, count: 1)])
    }
}

/// A TCP route's connections and bytes are increases like any counter's, summed over pods.
@Suite struct TCPRouteTests {
    @Test func connectionsAndBytesAreWindowIncreases() throws {
        let route = RouteIdentity(
            direction: .inbound, source: .tcp, target: "server/postgres:5432", route: "",
            peer: "api.shop.serviceaccount.identity.linkerd.cluster.local")
        func snapshot(_ values: [Double]) -> ProxySnapshot {
            ProxySnapshot(
                epoch: 1, routes: [route],
                seriesRoles: [
                    (0, .tcp(.opened)), (0, .tcp(.closed(errno: 0))),
                    (0, .tcp(.closed(errno: TCPCounter.errno("ECONNRESET")))), (0, .tcp(.bytesRead)),
                    (0, .tcp(.bytesWritten)),
                ], values: values, processStartTime: 10)
        }
        let database = WorkloadRef(kind: "StatefulSet", namespace: "shop", name: "postgres")
        var aggregator = RouteAggregator(startedAt: 1_000)
        for pod in ["postgres-0", "postgres-1"] {
            aggregator.ingest(snapshot([10, 8, 1, 1_000, 5_000]), from: ProxyID(pod), workload: database, at: 1_001)
            aggregator.ingest(snapshot([13, 9, 3, 1_400, 9_000]), from: ProxyID(pod), workload: database, at: 1_002)
        }
        let window = try #require(aggregator.closeWindow(at: 1_010).routes.first)
        var expected = TCPCounts()
        expected.opened = 6
        expected.closed = 6
        expected.closedByErrno = [0: 2, TCPCounter.errno("ECONNRESET"): 4]
        expected.bytesRead = 800
        expected.bytesWritten = 8_000
        #expect(window.tcp == expected)
        #expect(window.requestCount == 0)
    }
}

/// An authorization route's decisions are increases, summed over pods.
@Suite struct AuthorizationRouteTests {
    @Test func decisionsAreWindowIncreases() throws {
        let server = RouteIdentity(
            direction: .inbound, source: .authorization, target: "Server/web-http:8080", route: "HTTPRoute/web",
            peer: "")
        func snapshot(_ values: [Double]) -> ProxySnapshot {
            ProxySnapshot(
                epoch: 1, routes: [server],
                seriesRoles: [(0, .authorization(.httpAllowed)), (0, .authorization(.httpDenied))], values: values,
                processStartTime: 10)
        }
        let web = WorkloadRef(kind: "Deployment", namespace: "emojivoto", name: "web")
        var aggregator = RouteAggregator(startedAt: 1_000)
        for pod in ["web-1", "web-2"] {
            aggregator.ingest(snapshot([100, 3]), from: ProxyID(pod), workload: web, at: 1_001)
            aggregator.ingest(snapshot([150, 10]), from: ProxyID(pod), workload: web, at: 1_002)
        }
        let window = try #require(aggregator.closeWindow(at: 1_010).routes.first)
        #expect(window.authorization == [.httpAllowed: 100, .httpDenied: 14])
        #expect(window.requestCount == 0)
    }
}
