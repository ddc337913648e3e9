import FathomModel
import LinkerdMetrics
import ProxySimulation
import RouteAggregation
import Testing

/// Simulated proxies → real decoder → real aggregator, checked against the ground truth of every
/// simulated request: every request counted exactly once, across windows, pods and restarts.
@Suite struct PipelineExactnessTests {
    struct Scrape {
        var decoders: [ProxyPageDecoder]
        var aggregator: RouteAggregator

        mutating func scrape(_ mesh: SimulatedMesh, at time: Double) {
            for (index, proxy) in mesh.proxies.enumerated() {
                let snapshot = try! decoders[index].decode(Array(proxy.page().utf8))
                precondition(snapshot.stats.badLines == 0, "simulated pages are well formed")
                aggregator.ingest(snapshot, from: ProxyID(proxy.podName), workload: proxy.workload, at: time)
            }
        }
    }

    /// Every bound of a route's family, whether or not it had hits (then `+Inf`).
    static func familyBounds(_ source: RouteSource) -> [Double] {
        switch source {
        case .endpoint, .serviceProfileRoute: SimulatedProxy.legacyBoundsMilliseconds.map { $0 / 1_000 } + [.infinity]
        case .httpRoute, .grpcRoute: SimulatedProxy.routeBoundsSeconds + [.infinity]
        case .inboundHTTPErrors, .outboundHTTPErrors: []
        default: SimulatedProxy.backendBoundsSeconds + [.infinity]
        }
    }

    /// Compares one window with the truth accumulated over it.
    func check(_ window: AggregationWindow, against truth: [WorkloadRef: [RouteIdentity: RouteTruth]]) {
        var expected: [RouteKey: RouteTruth] = [:]
        for (workload, routes) in truth {
            for (route, routeTruth) in routes
            where routeTruth.success + routeTruth.failure > 0 || !routeTruth.tcp.isEmpty
                || !routeTruth.authorization.isEmpty
            {
                expected[RouteKey(workload: workload, identity: route)] = routeTruth
            }
        }
        let routes = window.routes
        #expect(Set(routes.map(\.key)) == Set(expected.keys))
        for route in routes {
            guard let truth = expected[route.key] else { continue }
            // Connections, bytes and policy decisions: no responses, no latency.
            if route.key.identity.source == .tcp || route.key.identity.source == .authorization {
                #expect(route.tcp?.counters ?? [:] == truth.tcp, "\(route.key)")
                #expect(route.authorization ?? [:] == truth.authorization, "\(route.key)")
                #expect(route.requestCount == 0, "\(route.key)")
                continue
            }
            // The histogram has the family's layout, not only the bounds with hits.
            #expect(route.latency.upperBounds == Self.familyBounds(route.key.identity.source), "\(route.key)")
            #expect(route.successCount == truth.success, "\(route.key)")
            #expect((route.retries ?? [:]).filter { $0.value > 0 } == truth.retries, "\(route.key) retries")
            #expect(route.failureCount == truth.failure, "\(route.key)")
            let buckets = Dictionary(
                uniqueKeysWithValues: zip(route.latency.upperBounds, route.latency.cumulativeCounts))
            // Bounds the truth never reached have count zero in the window.
            for (bound, count) in buckets {
                #expect(count == truth.cumulativeBuckets[bound, default: 0], "\(route.key) le=\(bound)")
            }
            #expect(abs(route.latency.sum - truth.latencySumSeconds) <= 1e-6 * max(1, truth.latencySumSeconds))
        }
    }

    @Test func everyRequestCountedOnceAcrossWindowsAndRestarts() async {
        let start = 1_000.0
        var mesh = SimulatedMesh.demo(startedAt: start)
        var pipeline = Scrape(
            decoders: mesh.proxies.map { _ in ProxyPageDecoder() }, aggregator: RouteAggregator(startedAt: start))
        var truth: [WorkloadRef: [RouteIdentity: RouteTruth]] = [:]
        var windows = 0
        var totalRequests = 0.0

        for tick in 1...60 {
            // Long synchronous loops would starve the other suites' async tasks.
            await Task.yield()
            let now = start + Double(tick) * 10
            mesh.advance(to: now)
            for (workload, routes) in mesh.takeTruth() {
                for (route, routeTruth) in routes {
                    truth[workload, default: [:]][route, default: RouteTruth()].add(routeTruth)
                }
            }
            pipeline.scrape(mesh, at: now)
            if tick == 20 {
                // A proxy restarts right after a scrape: its counters start again from zero.
                mesh.proxies[0].restart(at: now)
            }
            if tick == 35 {
                // And another restarts after generating traffic its next page will show from zero.
                mesh.proxies[5].restart(at: now)
            }
            if tick % 6 == 0 {
                let window = pipeline.aggregator.closeWindow(at: now)
                check(window, against: truth)
                totalRequests += window.routes.reduce(0) { $0 + $1.requestCount }
                truth = [:]
                windows += 1
            }
        }
        #expect(windows == 10)
        #expect(pipeline.aggregator.stats.proxyRestarts == 2)
        // The test means something only if traffic flowed on every kind of route.
        #expect(totalRequests > 10_000)
    }

    @Test func histogramQuantilesComeFromMergedPods() async {
        var mesh = SimulatedMesh.demo(startedAt: 0)
        var pipeline = Scrape(
            decoders: mesh.proxies.map { _ in ProxyPageDecoder() }, aggregator: RouteAggregator(startedAt: 0))
        for tick in 1...30 {
            await Task.yield()
            mesh.advance(to: Double(tick) * 10)
            pipeline.scrape(mesh, at: Double(tick) * 10)
        }
        let window = pipeline.aggregator.closeWindow(at: 300)
        let web = WorkloadRef(kind: "Deployment", namespace: "emojivoto", name: "web")
        let found = window.routes.first {
            $0.key.workload == web && $0.key.identity.source == .endpoint && $0.key.identity.direction == .outbound
        }
        #expect(found != nil, "no outbound endpoint route of web")
        guard let emoji = found else { return }
        // Median latency of the emoji calls is 4 ms; the p50 interpolated in (3 ms, 4 ms] or (4 ms, 5 ms].
        #expect(emoji.latencyQuantile(0.5) > 0.003 && emoji.latencyQuantile(0.5) <= 0.005)
        #expect(emoji.latencyQuantile(0.99) > emoji.latencyQuantile(0.5))
        // Two web pods: about 2 × 12 requests per second.
        #expect(emoji.requestRate > 20 && emoji.requestRate < 28)
    }
}
